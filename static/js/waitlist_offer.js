/* A waitlist offer made while the page is open: the realtime process sends the signed-in browser a
   ``waitlist_offer``, and a banner (role=status, so a screen reader announces it) links to the offer, where
   it is accepted or declined. The email goes out as well. Shares the page's Socket.IO connection. */
(function () {
  "use strict";
  var banner = document.getElementById("waitlist-offer-banner");
  if (!banner || !window.io) return;
  var NO_ID = "00000000-0000-0000-0000-000000000000";

  window.AtomicSeats.socket().on("waitlist_offer", function (data) {
    var places = data.quantity === 1 ? "1 place is" : data.quantity + " places are";
    var elsewhere = data.event_id !== Number(banner.dataset.eventId) ? " for another event on your waitlist" : "";
    var link = document.createElement("a");
    link.href = banner.dataset.offerUrl.replace(NO_ID, encodeURIComponent(data.entry_id));
    link.textContent = "Good news: " + places + " held for you" + elsewhere + ". See your waitlist offer";
    banner.replaceChildren(link);
    banner.classList.add("hold-banner");
  });
})();
