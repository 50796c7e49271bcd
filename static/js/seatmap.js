/* The live seat map: an SVG drawn from the seats' map positions, picked by click or keyboard, kept
   in step with every hold, release, expiry and booking through Socket.IO. */
(function () {
  "use strict";
  var A = window.AtomicSeats;
  var root = document.getElementById("booking");
  if (!root) return;
  var eventId = Number(root.dataset.eventId);
  var signedIn = root.dataset.signedIn === "true";
  var onSale = root.dataset.onSale === "true";
  var maxPerOrder = Number(root.dataset.maxPerOrder);
  var myHoldSeats = new Set(JSON.parse(root.dataset.holdSeats || "[]"));
  var message = document.getElementById("booking-message");
  var svg = document.getElementById("seatmap");
  var view = null;            // the drawing, zoom and tooltip (seatmap_view.js)
  var seats = new Map();      // id -> seat (from the API) with its element
  var rows = [];              // seats grouped by map row (y), each sorted by x
  var selected = new Set();
  var focusedId = null;

  var MARKS = {
    selected: "M7 12.5l3.2 3.2L17 8.8",
    booked: "M8 8l8 8M16 8l-8 8",
    yours: "M12 6.5l1.6 3.4 3.7.4-2.8 2.5.8 3.7-3.3-1.9-3.3 1.9.8-3.7-2.8-2.5 3.7-.4z",
    off: "M6 18L18 6",
  };
  var KIND_TEXT = {
    accessible: "wheelchair accessible",
    companion: "companion seat",
    restricted_view: "restricted view",
  };

  function say(text, isError) {
    message.textContent = text;
    message.className = "message" + (text ? (isError ? " message-error" : " message-info") : "");
  }

  function shownStatus(seat) {
    if (!seat.for_sale) return "off";
    if (seat.status === "available" && selected.has(seat.id)) return "selected";
    if (seat.status === "held" && myHoldSeats.has(seat.id)) return "yours";
    return seat.status;
  }

  var STATUS_TEXT = { available: "available", selected: "selected", yours: "held for you", held: "held", booked: "booked",
                      off: "not for sale" };

  function paint(seat) {
    var status = shownStatus(seat);
    var el = seat.el;
    if (!el) return;  // its section is not drawn yet; drawing it paints it
    el.setAttribute("class", "seat s-" + status + " k-" + seat.kind + " " + seat.tier);
    view.setMark(seat, MARKS[status] || "");
    var parts = ["Row " + seat.row_label, "seat " + seat.number, seat.section, A.money(seat.price_cents)];
    if (KIND_TEXT[seat.kind]) parts.push(KIND_TEXT[seat.kind]);
    parts.push(STATUS_TEXT[status]);
    el.setAttribute("aria-label", parts.join(", "));
    el.setAttribute("aria-checked", status === "selected" ? "true" : "false");
    el.setAttribute("aria-disabled", status === "available" || status === "selected" ? "false" : "true");
  }

  function firstFree(items) {
    return items.find(function (s) { return shownStatus(s) === "available"; }) || items[0];
  }

  function draw(items) {
    view = A.SeatMapView(svg, {
      tiers: JSON.parse(root.dataset.tiers || "[]"),
      money: A.money,
      seatOf: function (el) { return seats.get(Number(el.dataset.seatId)); },
      paint: paint,
      onPick: function (seat) { setFocusable(seat.id, false); toggle(seat); },
      // The map's one tab stop stays on a seat in view; opening a section by keyboard moves focus into it.
      onShown: function (shownSeats) {
        var current = focusedId === null ? null : seats.get(focusedId);
        var drawn = shownSeats.filter(function (list) { return list.length; });
        var inView = current && drawn.some(function (list) { return list.indexOf(current) >= 0; });
        if (!inView && drawn.length) setFocusable(firstFree(drawn[0]).id, false);
      },
      onEnterSection: function (sectionSeats) { setFocusable(firstFree(sectionSeats).id, true); },
      controls: document.getElementById("map-controls"),
      tooltip: document.getElementById("seat-tip"),
    });
    items.forEach(function (s) { seats.set(s.id, s); });
    rows = A.SeatMapView.rowsOf(items);
    view.draw(items);
    // Asking for a wheelchair space only makes sense where the venue has one.
    document.getElementById("best-accessible-field").hidden = !items.some(function (s) {
      return s.kind === "accessible";
    });
  }

  function setFocusable(id, focus) {
    if (focusedId !== null && seats.has(focusedId)) seats.get(focusedId).el.setAttribute("tabindex", "-1");
    focusedId = id;
    var el = view.elementFor(seats.get(id));
    el.setAttribute("tabindex", "0");
    if (focus) el.focus();
  }

  function toggle(seat) {
    var status = shownStatus(seat);
    if (!onSale) return say("This event is not on sale.", true);
    if (status === "selected") {
      selected.delete(seat.id);
    } else if (status === "available") {
      if (selected.size >= maxPerOrder) return say("You can pick at most " + maxPerOrder + " seats per order.", true);
      selected.add(seat.id);
    } else {
      return say("Seat " + seat.label + " is " + STATUS_TEXT[status] + ".", true);
    }
    say("");
    paint(seat);
    renderSelection();
  }

  function renderSelection() {
    var list = document.getElementById("selection");
    list.textContent = "";
    var total = 0;
    selected.forEach(function (id) {
      var s = seats.get(id);
      total += s.price_cents;
      var li = document.createElement("li");
      li.textContent = s.section + " · Row " + s.row_label + ", seat " + s.number + " · " + A.money(s.price_cents);
      list.appendChild(li);
    });
    document.getElementById("selection-empty").hidden = selected.size > 0;
    document.getElementById("selection-total").textContent = A.money(total);
    // The phone's order bar has no room for the list: the labels in one line.
    var labels = Array.from(selected, function (id) { return seats.get(id).label; });
    document.getElementById("selection-summary").textContent = labels.length ?
      labels.length + (labels.length === 1 ? " seat: " : " seats: ") + labels.join(", ") : "No seats selected";
    document.getElementById("hold-selected").disabled = selected.size === 0;
  }

  function applyStatus(data) {
    if (data.event_id !== eventId) return;
    var taken = [];
    data.seats.forEach(function (change) {
      var seat = seats.get(change.id);
      if (!seat) return;
      seat.status = change.status;
      if (change.status !== "held") myHoldSeats.delete(seat.id);
      if (change.status !== "available" && selected.has(seat.id)) {
        selected.delete(seat.id);
        taken.push(seat.label);
      }
      paint(seat);
    });
    if (taken.length) {
      renderSelection();
      say("Just taken by someone else: " + taken.join(", ") + ".", true);
    }
    if (data.availability) {
      document.querySelector('#availability [data-count="available"]').textContent = data.availability.available;
      if (onSale) showSoldOut(data.availability.available === 0);
    }
  }

  /* Selling out (or places coming back) while the page is open swaps the hold controls for the waitlist. */
  function showSoldOut(soldOut) {
    document.querySelectorAll(".hold-control").forEach(function (el) { el.hidden = soldOut; });
    ["sold-out", "waitlist"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) el.hidden = !soldOut;
    });
  }

  // A partial hold's shortfall rides along, so that checkout can offer the waitlist for the rest.
  function goToCheckout(holdId, shortfall) {
    var url = root.dataset.checkoutUrl.replace("00000000-0000-0000-0000-000000000000", holdId);
    window.location.assign(shortfall ? url + "?shortfall=" + shortfall : url);
  }

  /* Signing in leaves this page: the picked seats wait in this tab's sessionStorage, and the login's
     ``next`` brings the person back here, where restoreSelection() picks them again. */
  var KEPT = "atomicseats.selection." + eventId;

  function keepSelection() {
    if (selected.size) sessionStorage.setItem(KEPT, JSON.stringify(Array.from(selected)));
  }

  function restoreSelection() {
    var kept = JSON.parse(sessionStorage.getItem(KEPT) || "[]");
    sessionStorage.removeItem(KEPT);
    if (!kept.length || !onSale) return;
    var lost = 0;
    kept.forEach(function (id) {
      var seat = seats.get(id);
      if (seat && seat.status === "available" && selected.size < maxPerOrder) {
        selected.add(id);
        paint(seat);
      } else {
        lost += 1;
      }
    });
    renderSelection();
    if (!selected.size) return say("The seats you picked were taken meanwhile. Please choose others.", true);
    say("Your seats are still selected" + (lost ? " (" + lost + " were taken meanwhile)" : "") +
        ": hold them to check out.", lost > 0);
    document.getElementById("hold-selected").focus();
  }

  /* A sale with a waiting room holds seats only for the person whose turn it is. The API's refusal speaks to
     API clients (headers, endpoints); a person gets it in words, with the way to the queue, and the keyboard
     on that link. The selection is kept for when the queue brings them back here. */
  var TURN_TEXT = {
    admission_token_expired: ["Your turn to choose seats has passed: it was not used in time.", "Back to the queue"],
    admission_token_used: ["You have had your turn for this sale: it was used for a hold.", "See your turn"],
  };
  var NOT_YET = ["This sale has a waiting room: seats are held only for the person whose turn it is. " +
    "Join the queue, and its page brings you back here when your turn comes.", "Join the queue"];

  function sendToQueue(code) {
    var words = TURN_TEXT[code] || NOT_YET;
    keepSelection();
    var link = document.createElement("a");
    link.className = "button primary";
    link.href = root.dataset.queueUrl;
    link.textContent = words[1];
    say("", false);
    message.className = "message message-error";
    message.append(words[0] + " ", link);
    link.focus();
  }

  function hold(body) {
    if (!signedIn) {
      keepSelection();
      window.location.assign(root.dataset.loginUrl);
      return;
    }
    say("Holding…");
    A.api("POST", "/events/" + eventId + "/holds", body).then(function (result) {
      if (result.status === 201) return goToCheckout(result.body.id, result.body.shortfall);
      var error = result.body && result.body.error;
      if (error && error.code === "hold_exists" && error.details.hold_id) {
        say("You already hold seats for this event; taking you to that checkout.");
        return goToCheckout(error.details.hold_id);
      }
      if (error && error.code.indexOf("admission_") === 0 && root.dataset.queueUrl) return sendToQueue(error.code);
      if (error && error.code === "seats_unavailable" && error.details.unavailable_seat_ids.length) {
        var labels = error.details.unavailable_seat_ids.map(function (id) {
          var s = seats.get(id);
          if (s) { selected.delete(id); s.status = "held"; paint(s); }
          return s ? s.label : id;
        });
        renderSelection();
        return say("These seats were just taken: " + labels.join(", ") + ". Please choose others.", true);
      }
      say(A.errorMessage(result), true);
    }, function () { say("The server could not be reached. Please try again.", true); });
  }

  function onKey(e) {
    var el = e.target.closest("[data-seat-id]");
    if (!el) return;
    var seat = seats.get(Number(el.dataset.seatId));
    if (e.key === " " || e.key === "Enter") {
      e.preventDefault();
      toggle(seat);
      return;
    }
    // Shift with an arrow pans the view (seatmap_view.js); a plain arrow moves to the next seat.
    if (e.shiftKey || ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End"].indexOf(e.key) < 0) return;
    e.preventDefault();
    var next = A.SeatMapView.neighbour(rows, seat, e.key);
    if (next) setFocusable(next.id, true);
  }

  function quantityForm(formId, inputId, extra) {
    var form = document.getElementById(formId);
    if (!form) return;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var quantity = Number(document.getElementById(inputId).value);
      if (!Number.isInteger(quantity) || quantity < 1 || quantity > maxPerOrder) {
        say("Choose between 1 and " + maxPerOrder + ".", true);
        return;
      }
      hold(Object.assign({ quantity: quantity }, extra()));
    });
  }

  // "I need a wheelchair space": best available then picks one with companion seats beside it for the party.
  quantityForm("best-form", "best-quantity", function () {
    return { prefer: "best", accessible: document.getElementById("best-accessible").checked };
  });
  quantityForm("ga-form", "ga-quantity", function () {
    return { allow_partial: document.getElementById("ga-partial").checked };
  });

  var socket = A.socket();
  function join() {
    socket.emit("join_event", { event_id: eventId }, function (ack) {
      if (ack && ack.ok) root.dataset.live = "true";
    });
  }
  socket.on("connect", join);
  socket.on("disconnect", function () { root.dataset.live = "false"; });
  // A map applies statuses once drawn; general admission has no map, only the counts.
  socket.on("seat_status", function (data) { if (seats.size || !svg) applyStatus(data); });
  socket.on("event_status", function (data) {
    if (data.event_id === eventId && data.status !== "on_sale") {
      onSale = false;
      say("This event is now " + data.status.replace("_", " ") + ".", true);
    }
  });

  if (!svg) return;
  svg.addEventListener("keydown", onKey);
  document.getElementById("hold-selected").addEventListener("click", function () {
    hold({ seat_ids: Array.from(selected) });
  });
  A.api("GET", "/events/" + eventId + "/seats").then(function (result) {
    if (result.status !== 200) {
      document.getElementById("map-status").textContent = A.errorMessage(result);
      return;
    }
    draw(result.body.items);
    document.getElementById("map-status").textContent = "";
    restoreSelection();
    root.dataset.ready = "true";
    // A full state may have arrived before the map was drawn: ask again so nothing is missed.
    if (socket.connected) join();
  });
})();
