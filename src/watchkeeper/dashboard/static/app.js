// watchkeeper dashboard: draws every chart with uPlot after load and after each htmx swap, keeps
// charts as wide as their panel, and closes open menus. No inline handlers: the page stays CSP-clean.
//
// A chart is an element whose data-chart attribute holds the JSON made by pages/chart.py:
// {kind: "line"|"bars"|"stacked", unit, since, until, step, x: [s...], series: [{label, values}]}.
// Also: <time datetime> in local time, the Logs page's live tail, and opening the span a link
// points at (#span-<id>).
(function () {
  "use strict";

  const HEIGHT = 220;
  // Paul Tol's "bright" scheme: tells apart for colour-blind readers, calm on white.
  const PALETTE = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb"];
  // Series whose name says what they are keep their colour on every chart.
  const NAMED = {
    p50: "#4477aa", p95: "#ee7733", p99: "#aa3377", errors: "#ee6677",
    TRACE: "#dddddd", DEBUG: "#bbbbbb", INFO: "#4477aa", WARN: "#ccbb44", ERROR: "#ee6677", FATAL: "#aa3377",
  };
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

  // Stacked bars: uPlot draws each series from zero, so the chart gets running totals and draws
  // the top of the stack first; the legend still reads each series' own value. The spec lists
  // series bottom first; they are drawn (and listed) top first.
  function drawOrder(spec) {
    const order = spec.series.map(function (s, i) { return i; });
    return spec.kind === "stacked" ? order.reverse() : order;
  }

  function options(spec, width) {
    const bars = spec.kind === "bars" || spec.kind === "stacked";
    const series = [{ value: "{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}" }];
    drawOrder(spec).forEach(function (index) {
      const s = spec.series[index];
      const color = NAMED[s.label] || PALETTE[index % PALETTE.length];
      series.push({
        label: s.label,
        stroke: color,
        width: bars ? 0 : 1.5,
        // Stacked bars overlap (each drawn from zero): only opaque ones keep their colour.
        fill: bars ? color + (spec.kind === "stacked" ? "" : "b3") : undefined,
        paths: bars ? uPlot.paths.bars({ size: [0.8, 60], align: 0 }) : undefined,
        points: bars ? { show: false } : { size: 5, filter: isolatedPoints },
        spanGaps: false,
        value: function (plot, value, seriesIndex, dataIndex) {
          return formatValue(dataIndex == null ? value : s.values[dataIndex], spec.unit);
        },
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
    const shift = spec.kind === "line" ? 0 : spec.step / 2;
    const xs = spec.x.map(function (x) { return x + shift; });
    let columns = spec.series.map(function (s) { return s.values; });
    if (spec.kind === "stacked") {
      const totals = spec.x.map(function () { return 0; });
      columns = columns.map(function (values) {
        return values.map(function (v, i) { totals[i] += v || 0; return totals[i]; });
      });
    }
    return [xs].concat(drawOrder(spec).map(function (i) { return columns[i]; }));
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

  // Times arrive in UTC (<time datetime="...Z">); readers want their own clock.
  const pad = function (n, w) { return String(n).padStart(w || 2, "0"); };
  function localTimes(root) {
    const elements = root.querySelectorAll ? root.querySelectorAll("time[datetime]") : [];
    for (const element of elements) {
      if (element.dataset.local) continue;
      const t = new Date(element.getAttribute("datetime"));
      if (isNaN(t)) continue;
      element.title = element.getAttribute("datetime");
      element.textContent = t.getFullYear() + "-" + pad(t.getMonth() + 1) + "-" + pad(t.getDate()) + " " +
        pad(t.getHours()) + ":" + pad(t.getMinutes()) + ":" + pad(t.getSeconds()) + "." + pad(t.getMilliseconds(), 3);
      element.dataset.local = "1";
    }
  }

  // Live tail: each poll asks for the lines after the newest one shown (or, before any, after
  // the window's start); new lines go on top and the oldest beyond TAIL_KEEP drop off the end.
  const TAIL_KEEP = 1000;
  document.addEventListener("htmx:configRequest", function (event) {
    const body = event.detail.elt;
    if (!body.hasAttribute || !body.hasAttribute("data-tail")) return;
    const newest = body.querySelector("tr[data-ts]");
    event.detail.parameters.after_ts = newest ? newest.dataset.ts : body.dataset.afterTs;
    event.detail.parameters.after_id = newest ? newest.dataset.id : "";
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    const body = event.detail.elt;
    if (!body.hasAttribute || !body.hasAttribute("data-tail")) return;
    const rows = body.querySelectorAll("tr[data-ts]");
    for (let i = TAIL_KEEP; i < rows.length; i++) rows[i].remove();
  });

  // A link to #span-<id> opens that span's details in the waterfall.
  function openTarget() {
    if (!location.hash.startsWith("#span-")) return;
    const target = document.getElementById(location.hash.slice(1));
    if (target && target.tagName === "DETAILS") {
      target.open = true;
      target.scrollIntoView({ block: "center" });
    }
  }
  window.addEventListener("hashchange", openTarget);

  // Filter forms leave out empty fields, so the address keeps only the filters in use.
  document.addEventListener("formdata", function (event) {
    if (!event.target.classList.contains("filters")) return;
    for (const [name, value] of Array.from(event.formData.entries())) {
      if (value === "") event.formData.delete(name);
    }
  });

  function refresh(root) {
    drawCharts(root);
    localTimes(root);
  }

  document.addEventListener("DOMContentLoaded", function () { refresh(document); openTarget(); });
  // htmx:load fires on every piece of HTML htmx puts in the page (the live part on each refresh).
  document.addEventListener("htmx:load", function (event) { refresh(event.detail.elt); });
})();
