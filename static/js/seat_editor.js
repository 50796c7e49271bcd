/* The host's seat-map editor: pick a mark, then click, drag over or press Enter on seats to give it to them;
   add an aisle or a gap beside the last seat touched; save. It draws with the attendees' map view
   (seatmap_view.js), so what the host marks looks as attendees will see it. */
(function () {
  "use strict";
  var A = window.AtomicSeats;
  var View = A.SeatMapView;
  var root = document.getElementById("seat-editor");
  if (!root) return;
  var editable = root.dataset.editable === "true";
  var message = document.getElementById("editor-message");
  var saveButton = document.getElementById("save-map");
  var seats = new Map();      // id -> seat as edited
  var saved = new Map();      // id -> {kind, for_sale, x, y} as last saved
  var rows = [];
  var view = null;
  var focusedId = null;
  var current = null;         // the seat last marked or focused: where an aisle or a gap goes

  var OFF_MARK = "M6 18L18 6";
  var KIND_TEXT = { accessible: "wheelchair space", companion: "companion seat", restricted_view: "restricted view" };

  function say(text, isError) {
    message.textContent = text;
    message.className = "message" + (text ? (isError ? " message-error" : " message-info") : "");
  }

  function brush() { return root.querySelector('input[name="mark"]:checked').value; }

  /* Whether the seat already has the mark the host is applying: a seat is "checked" for the chosen mark. */
  function hasBrush(seat, mark) {
    if (mark === "off_sale") return !seat.for_sale;
    if (mark === "on_sale") return seat.for_sale;
    return seat.kind === mark;
  }

  function paint(seat) {
    if (!seat.el) return;
    seat.el.setAttribute("class", "seat " + (seat.for_sale ? "s-available " : "s-off ") + "k-" + seat.kind + " " + seat.tier);
    view.setMark(seat, seat.for_sale ? "" : OFF_MARK);
    var parts = ["Row " + seat.row_label, "seat " + seat.number, seat.section, View.kindName(seat.kind).toLowerCase()];
    if (!seat.for_sale) parts.push("not for sale");
    seat.el.setAttribute("aria-label", parts.join(", "));
    seat.el.setAttribute("aria-checked", hasBrush(seat, brush()) ? "true" : "false");
    seat.el.setAttribute("aria-disabled", editable ? "false" : "true");
  }

  function changes() {
    var out = [];
    seats.forEach(function (seat, id) {
      var before = saved.get(id), change = { id: id };
      if (seat.kind !== before.kind) change.kind = seat.kind;
      if (seat.for_sale !== before.for_sale) change.for_sale = seat.for_sale;
      if (seat.x !== before.x || seat.y !== before.y) { change.x = seat.x; change.y = seat.y; }
      if (Object.keys(change).length > 1) out.push(change);
    });
    return out;
  }

  function showPending() {
    var n = changes().length;
    saveButton.disabled = !editable || n === 0;
    document.getElementById("pending").textContent = n ? n + (n === 1 ? " seat changed, not saved yet." : " seats changed, not saved yet.") : "No unsaved changes.";
  }

  function mark(seat) {
    if (!editable) return say("This event is published: its seat map can no longer change.", true);
    current = seat;
    var m = brush();
    if (m === "off_sale" || m === "on_sale") {
      seat.for_sale = m === "on_sale";
    } else if (seat.kind !== m) {
      seat.kind = m;
      view.reshape(seat);
    }
    paint(seat);
    showPending();
    document.querySelectorAll("[data-layout]").forEach(function (b) { b.disabled = false; });
  }

  function setFocusable(id, focus) {
    if (focusedId !== null && seats.has(focusedId) && seats.get(focusedId).el) {
      seats.get(focusedId).el.setAttribute("tabindex", "-1");
    }
    focusedId = id;
    var el = view.elementFor(seats.get(id));
    el.setAttribute("tabindex", "0");
    if (focus) el.focus();
  }

  /* The map is drawn again from scratch after an aisle or a gap moved seats: a fresh <svg> (the view keeps its
     listeners on the old one) keeps the focus and the zoom simple. */
  function draw() {
    var old = document.getElementById("seatmap");
    var svg = old.cloneNode(false);
    old.replaceWith(svg);
    svg.addEventListener("keydown", onKey);
    var items = Array.from(seats.values());
    items.forEach(function (s) { s.el = null; });
    rows = View.rowsOf(items);
    view = View(svg, {
      tiers: JSON.parse(root.dataset.tiers || "[]"),
      money: A.money,
      seatOf: function (el) { return seats.get(Number(el.dataset.seatId)); },
      paint: paint,
      onPick: function (seat) { setFocusable(seat.id, false); mark(seat); },
      onDragOver: function (seat) { if (!hasBrush(seat, brush())) mark(seat); },
      onShown: function (shown) {
        var drawn = shown.filter(function (list) { return list.length; });
        var here = focusedId !== null && drawn.some(function (list) { return list.indexOf(seats.get(focusedId)) >= 0; });
        if (!here && drawn.length) setFocusable(drawn[0][0].id, false);
      },
      onEnterSection: function (sectionSeats) { setFocusable(sectionSeats[0].id, true); },
      controls: document.getElementById("map-controls"),
      tooltip: document.getElementById("seat-tip"),
    });
    view.draw(items);
  }

  function onKey(e) {
    var el = e.target.closest("[data-seat-id]");
    if (!el) return;
    var seat = seats.get(Number(el.dataset.seatId));
    current = seat;
    if (e.key === " " || e.key === "Enter") {
      e.preventDefault();
      mark(seat);
      return;
    }
    if (e.shiftKey || ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End"].indexOf(e.key) < 0) return;
    e.preventDefault();
    var next = View.neighbour(rows, seat, e.key);
    if (next) { current = next; setFocusable(next.id, true); }
  }

  /* An aisle: every seat of the section right of the seat's column moves one place right. A gap: every seat
     below the seat's row moves one row down (the sections below too, so that nothing overlaps). */
  function addSpace(kind) {
    if (!current) return say("Mark or focus a seat first: the aisle or gap goes beside it.", true);
    var at = current;
    seats.forEach(function (s) {
      if (kind === "aisle" && s.section === at.section && s.x > at.x) s.x += 1;
      if (kind === "gap" && s.y > at.y) s.y += 1;
    });
    draw();
    setFocusable(at.id, true);
    showPending();
    say(kind === "aisle" ? "Aisle added right of seat " + at.label + "." : "Gap added below row " + at.row_label + ".");
  }

  function save() {
    var body = { seats: changes() };
    if (!body.seats.length) return;
    saveButton.disabled = true;
    say("Saving…");
    fetch(root.dataset.saveUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json",
                 "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').getAttribute("content") },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (json) {
        if (response.ok) {
          body.seats.forEach(function (c) { remember(seats.get(c.id)); });
          document.getElementById("for-sale-count").textContent = json.seats_for_sale;
          say("Saved. " + json.seats_for_sale + " seats are for sale; the preview shows the map as attendees will see it.");
        } else {
          say(A.errorMessage({ status: response.status, body: json }), true);
        }
        showPending();
        message.focus();
      });
    }, function () {
      say("The server could not be reached. Please try again.", true);
      showPending();
    });
  }

  function remember(seat) { saved.set(seat.id, { kind: seat.kind, for_sale: seat.for_sale, x: seat.x, y: seat.y }); }

  root.querySelectorAll('input[name="mark"]').forEach(function (input) {
    input.addEventListener("change", function () { seats.forEach(paint); });
  });
  document.querySelectorAll("[data-layout]").forEach(function (button) {
    button.addEventListener("click", function () { addSpace(button.dataset.layout); });
  });
  saveButton.addEventListener("click", save);
  window.addEventListener("beforeunload", function (e) {
    if (changes().length) { e.preventDefault(); e.returnValue = ""; }
  });

  A.api("GET", "/events/" + root.dataset.eventId + "/seats").then(function (result) {
    if (result.status !== 200) {
      document.getElementById("map-status").textContent = A.errorMessage(result);
      return;
    }
    result.body.items.forEach(function (s) { seats.set(s.id, s); remember(s); });
    draw();
    document.getElementById("map-status").textContent = "";
    showPending();
    root.dataset.ready = "true";
  });
})();
