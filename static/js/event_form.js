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
