/* Checkout: a countdown that trusts the server's clock, the simulated payment, and the live result. */
(function () {
  "use strict";
  var A = window.AtomicSeats;
  var root = document.getElementById("checkout");
  var holdId = root.dataset.holdId;
  var bookingId = root.dataset.bookingId || null;
  // A deadline on this machine's clock, computed from the server's "time left": the tick recomputes the
  // remaining time from it, so a tab that slept shows the right time the moment it wakes up.
  var deadline = Date.now() + Number(root.dataset.expiresMs);
  var countdown = document.getElementById("countdown");
  var message = document.getElementById("checkout-message");
  var timer = null;
  var poller = null;

  function setState(state) {
    root.dataset.state = state;
    if (state !== "holding" && timer) { clearInterval(timer); timer = null; }
    if (state !== "pending" && poller) { clearInterval(poller); poller = null; }
  }

  function tick() {
    var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    countdown.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    if (left === 60) document.getElementById("countdown-alert").textContent = "One minute left to pay.";
    if (left === 0) expired();
  }

  function expired() {
    setState("expired");
    countdown.textContent = "0:00";
  }

  function resync() {
    if (root.dataset.state !== "holding") return;
    A.api("GET", "/holds/" + holdId).then(function (result) {
      if (result.status === 200) {
        if (result.body.status === "active") deadline = Date.now() + result.body.expires_in * 1000 + 500;
        tick();
      } else if (result.status === 410) {
        expired();
      }
    });
  }

  function showBooking(booking) {
    if (booking.status === "confirmed") {
      document.getElementById("reference").textContent = booking.reference;
      document.getElementById("booking-link").href = root.dataset.bookingUrl.replace(
        "00000000-0000-0000-0000-000000000000", booking.id);
      setState("confirmed");
      document.getElementById("confirmed-message").focus();  // the result, not the top of the page
    } else if (booking.status === "failed") {
      if (booking.failure_reason === "payment_declined") return retryIfHeld(booking);
      showFailed(booking);
    }
  }

  function showFailed(booking) {
    document.getElementById("failure-reason").textContent = (booking.failure_reason || "unknown").replace(/_/g, " ");
    setState("failed");
    document.getElementById("failed-message").focus();
  }

  /* A declined card leaves the hold alive until its own expiry: the form comes back for another card. */
  function retryIfHeld(booking) {
    A.api("GET", "/holds/" + holdId).then(function (result) {
      if (result.status !== 200 || result.body.status !== "active" || result.body.expires_in <= 0) {
        return showFailed(booking);
      }
      bookingId = null;
      deadline = Date.now() + result.body.expires_in * 1000;
      setState("holding");
      if (!timer) timer = setInterval(tick, 250);
      tick();
      var input = document.getElementById("card_number");
      input.value = "";
      input.setAttribute("aria-invalid", "true");
      message.textContent = "Your card was declined and you have not been charged. Your seats are still held: " +
        "try another card before the countdown ends.";
      input.focus();
    }, function () { showFailed(booking); });
  }

  function checkBooking() {
    A.api("GET", "/bookings/" + bookingId).then(function (result) {
      if (result.status === 200) showBooking(result.body);
    });
  }

  function waitForResult() {
    setState("pending");
    checkBooking();
    // Socket.IO tells us at once; polling is the safety net for a dropped connection.
    poller = setInterval(checkBooking, 3000);
  }

  document.getElementById("pay-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = document.getElementById("card_number");
    var card = input.value.replace(/\s+/g, "");
    if (!/^[0-9]{12,19}$/.test(card)) {
      message.textContent = "Enter the card's 12 to 19 digits.";
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    message.textContent = "";
    input.removeAttribute("aria-invalid");
    var button = e.target.querySelector('button[type="submit"]');
    button.disabled = true;
    A.api("POST", "/bookings", { hold_id: holdId, payment: { card_number: card } }).then(function (result) {
      button.disabled = false;
      if (result.status === 202 || result.status === 201 || result.status === 200) {
        bookingId = result.body.id;
        if (result.body.status && result.body.status !== "pending") return showBooking(result.body);
        return waitForResult();
      }
      if (result.status === 410) return expired();
      message.textContent = A.errorMessage(result);
    }, function () {
      button.disabled = false;
      message.textContent = "The server could not be reached. Please try again.";
    });
  });

  document.getElementById("release").addEventListener("click", function () {
    A.api("DELETE", "/holds/" + holdId).then(function (result) {
      if (result.status === 204) return setState("released");
      if (result.status === 410) return expired();
      message.textContent = A.errorMessage(result);
    });
  });

  var socket = A.socket();
  socket.on("connect", function () {
    if (root.dataset.state === "pending" && bookingId) checkBooking();
    else resync();
  });
  socket.on("hold_expired", function (data) { if (data.id === holdId && root.dataset.state === "holding") expired(); });
  socket.on("booking_updated", function (data) {
    if (data.id !== bookingId) return;
    if (data.reference) showBooking(data);
    else checkBooking();
  });

  document.addEventListener("visibilitychange", function () { if (!document.hidden) resync(); });

  if (root.dataset.state === "holding") {
    timer = setInterval(tick, 250);
    setInterval(resync, 15000);
    tick();
  } else if (root.dataset.state === "pending") {
    waitForResult();
  }
})();
