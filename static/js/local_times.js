/* Times in the visitor's own time zone. The server writes UTC (right for everyone without JavaScript) and
   keeps it as the element's title, so hovering shows the UTC time. */
(function () {
  "use strict";
  var format = new Intl.DateTimeFormat(undefined, {
    weekday: "short", day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  document.querySelectorAll("time[data-local]").forEach(function (el) {
    var moment = new Date(el.getAttribute("datetime"));
    if (!isNaN(moment)) el.textContent = format.format(moment);
  });
})();
