// watchkeeper dashboard: draws every chart with uPlot after load and after each htmx swap, keeps
// charts as wide as their panel, and closes open menus. No inline handlers: the page stays CSP-clean.
//
// A chart is an element whose data-chart attribute holds the JSON made by pages.chart():
// {kind: "line"|"bars", unit, since, until, step, x: [s...], series: [{label, values}]}.
(function () {
  "use strict";

  const HEIGHT = 220;
  // Paul Tol's "bright" scheme: tells apart for colour-blind readers, calm on white.
  const PALETTE = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb"];
  const LATENCY = { p50: "#4477aa", p95: "#ee7733", p99: "#aa3377" };
  const AXIS = { stroke: "#57606a", grid: { stroke: "#eaeef2", width: 1 }, ticks: { stroke: "#d0d7de", width: 1, size: 4 } };

  const charts = new Map(); // element -> uPlot
  const resizer = new ResizeObserver(function (entries) {
    for (const entry of entries) {
      const plot = charts.get(entry.target);
      const width = Math.floor(entry.contentRect.width);
      if (plot && width > 0 && width !== plot.width) plot.setSize({ width: width, height: HEIGHT });
    }
  });

  const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  const compactFormat = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

  function formatValue(value, unit) {
    if (value == null) return "–";
    const text = Math.abs(value) >= 10000 ? compactFormat.format(value) : numberFormat.format(value);
    return unit ? text + " " + unit : text;
  }

  // Ticks on the x axis in local time, 24-hour clock; the date appears where the day changes.
  // Rows: [tick step (s), format, format at a new year, new month, new day, new hour, new minute, new second, mode].
  const TIME_TICKS = [
    [3600 * 24 * 365, "{YYYY}", null, null, null, null, null, null, 1],
    [3600 * 24 * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600 * 24, "{MMM} {D}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:{mm}", "\n{MMM} {D}", null, "\n{MMM} {D}", null, null, null, 1],
    [60, "{HH}:{mm}", "\n{MMM} {D}", null, "\n{MMM} {D}", null, null, null, 1],
    [1, "{HH}:{mm}:{ss}", "\n{MMM} {D}", null, "\n{MMM} {D}", null, null, null, 1],
  ];

  // Points only where a value stands alone between gaps: a line needs two neighbours to show.
  function isolatedPoints(plot, seriesIndex, show) {
    if (show) return null;
    const values = plot.data[seriesIndex];
    const alone = [];
    for (let i = 0; i < values.length; i++) {
      if (values[i] != null && values[i - 1] == null && values[i + 1] == null) alone.push(i);
    }
    return alone;
  }

  function yAxisSize(plot, values, axisIndex, cycleNum) {
    const axis = plot.axes[axisIndex];
    if (cycleNum > 1) return axis._size; // settle after two passes, as uPlot's own demos do
    let size = axis.ticks.size + axis.gap;
    const longest = (values || []).reduce(function (a, b) { return b.length > a.length ? b : a; }, "");
    if (longest !== "") {
      plot.ctx.font = axis.font[0];
      size += plot.ctx.measureText(longest).width / devicePixelRatio;
    }
    return Math.ceil(size) + 4;
  }

  function options(spec, width) {
    const bars = spec.kind === "bars";
    const series = [{ value: "{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}" }];
    spec.series.forEach(function (s, i) {
      const color = LATENCY[s.label] || PALETTE[i % PALETTE.length];
      series.push({
        label: s.label,
        stroke: color,
        width: bars ? 0 : 1.5,
        fill: bars ? color + "b3" : undefined,
        paths: bars ? uPlot.paths.bars({ size: [0.8, 60], align: 0 }) : undefined,
        points: bars ? { show: false } : { size: 5, filter: isolatedPoints },
        spanGaps: false,
        value: function (plot, value) { return formatValue(value, spec.unit); },
      });
    });
    return {
      width: width,
      height: HEIGHT,
      series: series,
      cursor: { sync: { key: "wk-time" }, points: { size: 6 }, drag: { x: false, y: false } },
      legend: { live: true },
      scales: {
        x: { time: true, range: function () { return [spec.since, spec.until]; } },
        y: {
          range: function (plot, min, max) {
            return uPlot.rangeNum(0, max > 0 ? max : 1, 0.1, true);
          },
        },
      },
      axes: [
        Object.assign({ values: TIME_TICKS, space: 60 }, AXIS),
        Object.assign({
          size: yAxisSize,
          space: 30,
          values: function (plot, splits) {
            return splits.map(function (v) { return formatValue(v, spec.unit); });
          },
        }, AXIS),
      ],
    };
  }

  function data(spec) {
    // Bars stand in the middle of their bucket; x is each bucket's start.
    const shift = spec.kind === "bars" ? spec.step / 2 : 0;
    const xs = spec.x.map(function (x) { return x + shift; });
    return [xs].concat(spec.series.map(function (s) { return s.values; }));
  }

  function prune() {
    for (const [element, plot] of charts) {
      if (!element.isConnected) {
        resizer.unobserve(element);
        plot.destroy();
        charts.delete(element);
      }
    }
  }

  function drawCharts(root) {
    prune();
    if (typeof uPlot === "undefined") return;
    const elements = root.querySelectorAll ? root.querySelectorAll("[data-chart]") : [];
    for (const element of elements) {
      if (charts.has(element)) continue;
      const spec = JSON.parse(element.dataset.chart);
      const width = Math.max(Math.floor(element.clientWidth), 100);
      const plot = new uPlot(options(spec, width), data(spec), element);
      element.dataset.series = String(spec.series.length);
      charts.set(element, plot);
      resizer.observe(element);
    }
  }

  // Menus are <details>: a click elsewhere or Escape closes them.
  function closeMenus(except) {
    for (const menu of document.querySelectorAll("details.menu[open]")) {
      if (menu !== except) menu.removeAttribute("open");
    }
  }

  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest ? event.target.closest("details.menu") : null);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  // htmx:load fires on every piece of HTML htmx puts in the page (the live part on each refresh).
  document.addEventListener("htmx:load", function (event) { drawCharts(event.detail.elt); });
})();
