/* After a form comes back with errors, focus goes to the first of them instead of the top of the page, so
   a keyboard or screen reader user lands where the fix is needed. */
(function () {
  "use strict";
  var first = document.querySelector('main [aria-invalid="true"]') || document.querySelector("main .error-summary");
  if (!first) return;
  if (!first.matches("input, select, textarea")) first.setAttribute("tabindex", "-1");
  first.focus();
})();
