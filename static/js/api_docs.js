/* Swagger UI for /api/docs. A file, not an inline script: the Content-Security-Policy allows no inline code.
   No validator badge: it would load an image from another origin. */
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({ url: root.dataset.specUrl, dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null });
})();
