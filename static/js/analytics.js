/* Admin charts, drawn from the same figures as the tables beside them (GET /api/v1/admin/analytics). */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("analytics-data").textContent);
  var euros = new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR" });
  Chart.defaults.color = "#1b1f24";
  Chart.defaults.animation = false;
  new Chart(document.getElementById("utilisation-chart"), {
    type: "bar",
    data: {
      labels: data.events.map(function (e) { return e.name; }),
      datasets: [{
        label: "Seats sold (%)",
        data: data.events.map(function (e) { return Math.round(e.utilisation * 1000) / 10; }),
        backgroundColor: "#0b5cad",
      }],
    },
    options: { indexAxis: "y", maintainAspectRatio: false, scales: { x: { min: 0, max: 100 } } },
  });
  new Chart(document.getElementById("revenue-chart"), {
    type: "line",
    data: {
      labels: data.revenue_by_day.map(function (d) { return d.day; }),
      datasets: [{
        label: "Revenue (€)",
        data: data.revenue_by_day.map(function (d) { return d.revenue_cents / 100; }),
        borderColor: "#1a7f37",
        backgroundColor: "#1a7f37",
      }],
    },
    options: {
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, ticks: { callback: function (v) { return euros.format(v); } } } },
    },
  });
})();
