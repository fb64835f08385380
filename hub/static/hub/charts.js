// Renders every <canvas data-chart="ID"> from the JSON config in <script id="ID"> (made
// with Django's json_script), on load and after each htmx swap. A canvas that already has
// a chart gets its data replaced, so polling refreshes without flicker.
(function () {
  function render(root) {
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.dataset.chart);
      if (!source || typeof Chart === "undefined") return;
      var config = JSON.parse(source.textContent);
      config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
      var existing = Chart.getChart(canvas);
      if (existing) {
        existing.data = config.data;
        existing.update("none");
      } else {
        new Chart(canvas, config);
      }
      canvas.dataset.rendered = "true";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { render(document); });
  document.addEventListener("htmx:afterSettle", function (event) { render(event.target); });
})();
