/* The event form: show only the fieldsets of the chosen seating type (without script, both show). */
(function () {
  "use strict";
  var radios = document.querySelectorAll('input[name="seating"]');
  function update() {
    var chosen = document.querySelector('input[name="seating"]:checked');
    if (!chosen) return;
    document.querySelectorAll("fieldset[data-seating]").forEach(function (set) {
      set.hidden = set.dataset.seating !== chosen.value;
    });
  }
  radios.forEach(function (r) { r.addEventListener("change", update); });
  update();
})();

/* Dates and times in the host's own time zone. The server fills the fields in the zone named by the hidden
   "tz" field (UTC when it has not heard from this browser yet); here they move to this browser's zone and
   "tz" says so, and the server reads what is typed in that zone. Without JavaScript everything stays UTC. */
(function () {
  "use strict";
  var tz = document.getElementById("tz");
  var zone = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!tz || !zone || tz.value === zone) return;
  if (tz.value !== "UTC") return;  // typed in another zone and sent back with errors: leave them as typed
  function pad(n) { return String(n).padStart(2, "0"); }
  document.querySelectorAll('input[type="datetime-local"]').forEach(function (input) {
    if (!input.value) return;
    var d = new Date(input.value + "Z");
    input.value = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes());
  });
  tz.value = zone;
  document.getElementById("tz-name").textContent = zone;
})();
