/* The waiting page, kept live: the head of the line is pushed over Socket.IO (every 2 s at most); each page
   knows its own place and works out its position. A page that joined before the sale opened has no place yet:
   the draw's push brings it, to this person's own room. Polling GET /queue/{ticket} covers a lost connection.
   When it is this person's turn the page reloads, and the server sends it on to the seat map with its token. */
(function () {
  "use strict";
  var A = window.AtomicSeats;
  var root = document.getElementById("queue");
  if (!root || root.dataset.status !== "waiting") return;
  var eventId = Number(root.dataset.eventId);
  var place = Number(root.dataset.place) || null;
  var perMinute = Number(root.dataset.admitPerMinute);
  var shown = root.dataset.position;
  var POLL_MS = 15000;  // while connected: only when no push came for this long
  var POLL_DISCONNECTED_MS = 5000;

  function etaText(position) {
    var seconds = Math.ceil((position - 1) * 60 / perMinute);
    if (seconds < 60) return "Your turn should come within a minute.";
    return "Your turn should come in about " + Math.round(seconds / 60) + " minutes.";
  }

  /* Only a change is written: a polite live region that repeats itself every 2 s would talk over everything. */
  function show(position) {
    if (String(position) === shown) return;
    shown = String(position);
    var p = document.getElementById("queue-position");
    var eta = document.getElementById("queue-eta");
    p.textContent = "";
    p.append("You are number ");
    var strong = document.createElement("strong");
    strong.textContent = String(position);
    p.append(strong, " in line.");
    if (!eta) {
      eta = document.createElement("p");
      eta.id = "queue-eta";
      p.after(eta);
    }
    eta.textContent = etaText(position);
  }

  function moveOn() { window.location.assign(root.dataset.page); }

  function apply(state) {
    if (state.status !== "waiting") { moveOn(); return; }
    place = state.place;
    if (state.position) show(state.position);
  }

  function poll() {
    A.api("GET", "/queue/" + encodeURIComponent(root.dataset.ticket)).then(function (result) {
      if (result.status === 200) apply(result.body);
    });
  }

  var socket = A.socket();
  var timer = null;
  function schedule(ms) {
    if (timer) clearInterval(timer);
    timer = setInterval(poll, ms);
  }
  socket.on("connect", function () { schedule(POLL_MS); poll(); });
  socket.on("disconnect", function () { schedule(POLL_DISCONNECTED_MS); });
  socket.on("queue_progress", function (data) {
    if (data.event_id !== eventId) return;
    schedule(POLL_MS);  // pushes are coming: ask only if they stop for a whole poll interval
    if (data.sold_out) { moveOn(); return; }
    if (data.place) place = data.place;  // the draw's push: this person's own place, sent to them alone
    // no place and none pushed (the draw's push was missed): every page may ask at once, so each waits 0-2 s
    if (place === null) { setTimeout(poll, Math.random() * 2000); return; }
    if (data.head >= place) { poll(); return; }
    show(place - data.head);
  });
  socket.on("queue_admitted", function (data) { if (data.event_id === eventId) moveOn(); });
  schedule(POLL_DISCONNECTED_MS);
})();
