/* Shared helpers: JSON API calls with the session cookie and the CSRF header, euro formatting. */
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var euros = new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR" });

  /* Resolves to {status, body}; the body is null when the answer is not JSON (204). */
  function api(method, path, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrf },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch("/api/v1" + path, options).then(function (response) {
      return response.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
        return { status: response.status, body: parsed };
      });
    });
  }

  function errorMessage(result) {
    if (result.body && result.body.error) return result.body.error.message;
    return "Something went wrong (" + result.status + "). Please try again.";
  }

  window.AtomicSeats = {
    api: api,
    errorMessage: errorMessage,
    money: function (cents) { return euros.format(cents / 100); },
    socket: function () { return io({ transports: ["websocket"] }); },
  };
})();
