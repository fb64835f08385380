// Every chart's looks: the palette, fonts and per-kind Chart.js options. Python sends only
// data (the chart contract: {kind, title, x_title, y_title, labels?, datasets: [{label,
// data, role?}]}), which templates/components/chart.html writes with json_script next to a
// <canvas data-chart="ID" data-chart-kind="KIND">. Charts are drawn on load and after each
// htmx swap; a canvas that already has a chart (kept by hx-preserve while a page polls)
// gets its data replaced in place, so polling refreshes without flicker.
(function () {
  "use strict";

  var PALETTE = ["#2f5bea", "#e8590c", "#12b76a", "#7a5af8", "#f04438", "#0891b2", "#98a2b3"];
  var ROLES = {
    champion: "#d97706",
    challenger: "#2f5bea",
    shadow: "#98a2b3",
    reference: "#667085",
    positive: "#b42318",
    negative: "#2f5bea",
  };
  var DASHED_ROLES = { shadow: true, reference: true };
  var REFERENCE_LINES = { roc: "Chance", calibration: "Perfectly calibrated" };
  var CURVES = { roc: true, pr: true, calibration: true };
  var FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  // Where Chart.js lives, for pages that received a chart through htmx without having
  // loaded it (base.html loads it only on pages whose view set uses_charts).
  var CHARTJS_SRC = document.currentScript ? document.currentScript.dataset.chartjs : "";
  var loading = null;

  function colourOf(dataset, index) {
    return ROLES[dataset.role] || PALETTE[index % PALETTE.length];
  }

  function axis(title, extra) {
    var scale = Object.assign({ grid: { color: "#eef0f3" } }, extra || {});
    if (title) scale.title = { display: true, text: title };
    return scale;
  }

  function styled(dataset, index, kind) {
    var colour = colourOf(dataset, index);
    var out = {
      label: dataset.label,
      data: dataset.data,
      borderColor: colour,
      backgroundColor: colour,
      borderWidth: 2,
    };
    if (DASHED_ROLES[dataset.role]) out.borderDash = [6, 4];
    if (CURVES[kind]) {
      out.showLine = true;
      out.fill = false;
      out.pointRadius = kind === "calibration" ? 3 : 0;
    } else if (kind === "timeseries") {
      out.pointRadius = 2;
      out.spanGaps = true;
      out.tension = 0.2;
    } else if (kind === "scatter") {
      out.pointRadius = 3;
    } else {
      out.borderWidth = 0;
      // Bars whose value is null (a waterfall's other sign) leave no gap.
      out.skipNull = true;
    }
    return out;
  }

  function referenceLine(kind) {
    return {
      label: REFERENCE_LINES[kind],
      data: [{ x: 0, y: 0 }, { x: 1, y: 1 }],
      borderColor: ROLES.reference,
      backgroundColor: ROLES.reference,
      borderDash: [6, 4],
      borderWidth: 1,
      pointRadius: 0,
      showLine: true,
      fill: false,
    };
  }

  function hasPoints(spec) {
    var first = (spec.datasets[0] || { data: [] }).data[0];
    return first !== null && typeof first === "object" && !Array.isArray(first);
  }

  function typeAndScales(spec) {
    var kind = spec.kind;
    var x = spec.x_title, y = spec.y_title;
    if (CURVES[kind]) {
      return { type: "scatter", scales: { x: axis(x, { type: "linear", min: 0, max: 1 }), y: axis(y, { min: 0, max: 1 }) } };
    }
    if (kind === "scatter") return { type: "scatter", scales: { x: axis(x, { type: "linear" }), y: axis(y) } };
    if (kind === "timeseries") {
      var xScale = spec.labels || !hasPoints(spec) ? { type: "category" } : { type: "linear" };
      return { type: "line", scales: { x: axis(x, xScale), y: axis(y) } };
    }
    if (kind === "confusion") {
      return { type: "bar", scales: { x: axis(x, { stacked: true }), y: axis(y, { stacked: true, beginAtZero: true }) } };
    }
    if (kind === "histogram") return { type: "bar", scales: { x: axis(x, { grid: { display: false } }), y: axis(y, { beginAtZero: true }) } };
    // bars: a horizontal chart's category axis is y, so the titles swap with the axes.
    if (spec.orientation === "horizontal") return { type: "bar", indexAxis: "y", scales: { x: axis(x), y: axis(y) } };
    return { type: "bar", scales: { x: axis(x), y: axis(y, { beginAtZero: true }) } };
  }

  function config(spec) {
    var shape = typeAndScales(spec);
    var datasets = (spec.datasets || []).map(function (d, i) { return styled(d, i, spec.kind); });
    if (REFERENCE_LINES[spec.kind]) datasets.push(referenceLine(spec.kind));
    if (spec.kind === "histogram") {
      datasets.forEach(function (d) { d.barPercentage = 1; d.categoryPercentage = 1; });
    }
    var data = { datasets: datasets };
    if (spec.labels) data.labels = spec.labels;
    else if (shape.type === "line" && !hasPoints(spec)) {
      data.labels = ((spec.datasets[0] || { data: [] }).data).map(function (_, i) { return i + 1; });
    }
    var options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: shape.scales,
      plugins: { legend: { display: datasets.length > 1, labels: { boxWidth: 12 } } },
    };
    if (shape.indexAxis) options.indexAxis = shape.indexAxis;
    return { type: shape.type, data: data, options: options };
  }

  function sizeFor(canvas, spec) {
    // The box's height: asked for with data-chart-height (pixels; no inline style under
    // the CSP), or grown with a horizontal bar chart's categories so every label is readable.
    var box = canvas.parentElement;
    if (!box) return;
    if (box.dataset.chartHeight) box.style.height = box.dataset.chartHeight + "px";
    else if (spec.orientation === "horizontal" && spec.labels) {
      box.style.height = Math.max(260, 40 + 28 * spec.labels.length) + "px";
    }
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) return;
    var spec = JSON.parse(source.textContent);
    spec.kind = canvas.dataset.chartKind || spec.kind;
    var built = config(spec);
    sizeFor(canvas, spec);
    var existing = Chart.getChart(canvas);
    if (existing) {
      existing.data = built.data;
      existing.update("none");
    } else {
      new Chart(canvas, built);
    }
    canvas.dataset.rendered = "true";
  }

  function loadChartJs() {
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = CHARTJS_SRC;
        script.onload = resolve;
        script.onerror = reject;
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  function render() {
    var canvases = document.querySelectorAll("canvas[data-chart]");
    if (!canvases.length) return;
    if (typeof Chart === "undefined") {
      if (CHARTJS_SRC) loadChartJs().then(render);
      return;
    }
    Chart.defaults.font.family = FONT;
    Chart.defaults.color = "#475467";
    canvases.forEach(draw);
  }

  window.hubCharts = { config: config, render: render };
  document.addEventListener("DOMContentLoaded", render);
  document.addEventListener("htmx:afterSettle", render);
})();
