// Draws the compare page's chart from the data attributes of its canvas (no inline script: CSP).
(function () {
  var canvas = document.getElementById("mentions-chart");
  if (!canvas || typeof Chart === "undefined") return;
  var years = JSON.parse(canvas.dataset.years);
  var names = JSON.parse(canvas.dataset.series);
  var counts = JSON.parse(canvas.dataset.counts);
  var colours = ["#1d70b8", "#d4351c", "#00703c", "#f47738", "#4c2c92", "#28a197", "#b58840", "#6f72af"];
  new Chart(canvas, {
    type: "line",
    data: {
      labels: years,
      datasets: names.map(function (name, i) {
        return { label: name, data: counts[i], borderColor: colours[i % colours.length], backgroundColor: colours[i % colours.length], tension: 0.1 };
      })
    },
    options: { animation: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
})();
