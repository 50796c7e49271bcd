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

  function meta(name) {
    return document.querySelector('meta[name="' + name + '"]').getAttribute("content");
  }

  /* A Socket.IO connection to the realtime process (WebSocket only, so no sticky sessions are needed).
     When a realtime process restarts, thousands of pages reconnect at once: each waits a random 0.5-1.5x of
     a delay that doubles up to 30 s, so they come back spread out. A refused connection (the process is
     full) is retried the same way; a token the server rejects is dropped and the page reconnects without.
     One connection per page: every script of the page that asks gets the same one. */
  var shared = null;
  function socket() {
    if (shared) return shared;
    var token = meta("realtime-token");
    var options = {
      transports: ["websocket"],
      auth: token ? { token: token } : {},
      reconnectionDelay: 1000,
      reconnectionDelayMax: 30000,
      randomizationFactor: 0.5,
    };
    var url = meta("realtime-url");
    var s = shared = url ? io(url, options) : io(options);
    var refused = 0;
    s.on("connect", function () { refused = 0; });
    s.on("connect_error", function (err) {
      if (s.active) return;  // the client's own backoff retries it
      if (err && err.message === "bad token") s.auth = {};
      var delay = Math.min(30000, 1000 * Math.pow(2, refused++)) * (0.5 + Math.random());
      setTimeout(function () { s.connect(); }, delay);
    });
    return s;
  }

  window.AtomicSeats = {
    api: api,
    errorMessage: errorMessage,
    money: function (cents) { return euros.format(cents / 100); },
    socket: socket,
  };
})();
