// The dashboard's trends (templates/dashboard.html): Chart.js draws each from the JSON the
// server embedded; a click on a bar or point opens the register's table filtered to its rows.
(function () {
  "use strict";
  var source = document.getElementById("tz-charts");
  if (!source || typeof Chart === "undefined") return;
  var charts = JSON.parse(source.textContent);
  var colours = ["#2f6fde", "#e5732f", "#2f9e6e", "#b84fc9", "#c9a23a", "#5aa6c9", "#d04a5a", "#7a7a7a"];
  Object.keys(charts).forEach(function (id) {
    var spec = charts[id];
    var canvas = document.getElementById(id);
    if (!canvas) return;
    var stacked = spec.kind === "bar" && spec.datasets.length > 1;
    new Chart(canvas, {
      type: spec.kind,
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map(function (d, i) {
          return {label: d.label, data: d.data, backgroundColor: colours[i % colours.length],
                  borderColor: colours[i % colours.length], tension: 0.2, maxBarThickness: 56};
        })
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: {legend: {display: spec.datasets.length > 1, position: "bottom"}},
        scales: {x: {stacked: stacked},
                 // counts are whole numbers: no 0.5 on their axis
                 y: {stacked: stacked, beginAtZero: true, ticks: spec.whole ? {precision: 0} : {}}},
        onHover: function (event, elements) {
          event.native.target.style.cursor = elements.length ? "pointer" : "default";
        },
        onClick: function (event, elements) {
          if (!elements.length) return;
          var hit = elements[0];
          window.location.href = spec.url + spec.datasets[hit.datasetIndex].links[hit.index];
        }
      }
    });
  });
})();
