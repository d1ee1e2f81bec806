"use strict";
/* Helpers shared by every keyscribe report: DOM building, number formats, sortable tables and
   line charts drawn as inline SVG. The report's data is the JSON in <script id="ks-data">. */
const KS = (() => {
  const data = JSON.parse(document.getElementById("ks-data").textContent);
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    setAttrs(node, attrs);
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
  }

  function fmt(value, digits = 2) {
    if (value === null || value === undefined || (typeof value === "number" && isNaN(value))) return "–";
    if (typeof value !== "number") return String(value);
    if (Number.isInteger(value) && Math.abs(value) >= 1000) return value.toLocaleString("en");
    if (Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
    return value.toFixed(digits);
  }

  /* green (0 % CER) through amber to red (50 % and more) */
  function cerColor(cer) {
    const t = Math.max(0, Math.min(1, (cer || 0) / 50));
    return `hsl(${Math.round(130 * (1 - Math.sqrt(t)))}, 62%, ${Math.round(40 + 4 * t)}%)`;
  }

  function stat(label, value) {
    return el("div", { class: "stat" }, el("b", { text: value }), el("span", { text: label }));
  }

  /* A table whose column headers sort it. columns: {key, label, num, format}. */
  function sortableTable(columns, rows, opts = {}) {
    const body = el("tbody");
    let sortKey = opts.sortKey || null;
    let descending = false;
    const heads = columns.map((c) =>
      el("th", {
        class: c.num ? "num" : null, dataset: { key: c.key }, title: "sort by " + c.label,
        onclick: () => { descending = sortKey === c.key ? !descending : false; sortKey = c.key; draw(); },
      }, c.label));
    function value(row, key) { const v = row[key]; return v === null || v === undefined ? null : v; }
    function draw() {
      const ordered = rows.slice();
      if (sortKey) {
        ordered.sort((a, b) => {
          const x = value(a, sortKey), y = value(b, sortKey);
          if (x === y) return 0;
          if (x === null) return 1;
          if (y === null) return -1;
          const cmp = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return descending ? -cmp : cmp;
        });
      }
      heads.forEach((th) => th.setAttribute("aria-sort",
        th.dataset.key === sortKey ? (descending ? "descending" : "ascending") : "none"));
      body.replaceChildren(...ordered.map((row) => el("tr", { dataset: { run: row.run || "" } },
        columns.map((c) => el("td", { class: c.num ? "num" : null },
          c.format ? c.format(row[c.key], row) : fmt(row[c.key]))))));
      if (opts.onSort) opts.onSort(ordered);
    }
    draw();
    return el("div", { class: "scroll-x" }, el("table", { class: "ks" }, el("thead", {}, el("tr", {}, heads)), body));
  }

  /* about `count` round values covering [lo, hi], each with its label */
  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) { hi = lo + 1; }
    const raw = (hi - lo) / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const s = [1, 2, 5, 10].map((m) => m * mag).find((v) => v >= raw);
    const decimals = Math.max(0, -Math.floor(Math.log10(s) + 1e-9));
    const ticks = [];
    for (let v = Math.ceil(lo / s) * s; v <= hi + s * 1e-9; v += s) {
      const value = +v.toPrecision(12);
      ticks.push({ value, label: Math.abs(value) >= 1e5 || (value !== 0 && Math.abs(value) < 1e-4) ? value.toExponential(1) : value.toFixed(decimals) });
    }
    return ticks;
  }

  /* ticks of a log10 axis over [lo, hi] (in log10 units): decades, or 1-2-5 steps (or every
     digit) when the range holds too few of them */
  function logTicks(lo, hi) {
    for (const digits of [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
      const ticks = [];
      for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
        for (const d of digits) {
          const value = Math.log10(d) + e;
          if (value >= lo && value <= hi) ticks.push({ value, label: String(+(d * Math.pow(10, e)).toPrecision(3)) });
        }
      }
      if (ticks.length >= 2 || digits.length === 9) return ticks;
    }
    return [];
  }

  const PALETTE = ["#2f5fd0", "#e8590c", "#2b8a3e", "#ae3ec9", "#c92a2a", "#0b7285", "#5c940d",
    "#d6336c", "#495057", "#f08c00", "#1864ab", "#862e9c"];

  /* A line chart: series [{name, points: [[x, y], ...], color, dash}], drawn into SVG. */
  function lineChart(opts) {
    const W = opts.width || 440, H = opts.height || 250;
    const m = { l: 64, r: 14, t: opts.title ? 24 : 10, b: 38 };
    const series = opts.series.filter((s) => s.points && s.points.length);
    const box = el("div", { class: "chart" });
    if (!series.length) { box.append(el("p", { class: "note", text: (opts.title || "chart") + ": nothing logged" })); return box; }
    const logY = !!opts.logY && series.every((s) => s.points.every((p) => p[1] > 0));
    const ty = (v) => (logY ? Math.log10(v) : v);
    const xs = series.flatMap((s) => s.points.map((p) => p[0]));
    const ys = series.flatMap((s) => s.points.map((p) => ty(p[1])));
    let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    if (opts.yMin !== undefined) y0 = Math.min(y0, opts.yMin);
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y1 = y0 + 1; y0 = y0 - 1; }
    const pad = (y1 - y0) * 0.05; y0 -= opts.yMin !== undefined && y0 === opts.yMin ? 0 : pad; y1 += pad;
    const X = (v) => m.l + ((v - x0) / (x1 - x0)) * (W - m.l - m.r);
    const Y = (v) => H - m.b - ((ty(v) - y0) / (y1 - y0)) * (H - m.t - m.b);
    const Yt = (t) => H - m.b - ((t - y0) / (y1 - y0)) * (H - m.t - m.b);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.title || "chart" });
    if (opts.title) root.append(svg("text", { x: m.l, y: 15, "font-weight": 600, "font-size": 12 }, opts.title));
    const axis = svg("g", { class: "axis" });
    const yTicks = logY ? logTicks(y0, y1) : niceTicks(y0, y1, 5);
    for (const t of yTicks) {
      const y = Yt(t.value);
      if (y < m.t - 1 || y > H - m.b + 1) continue;
      axis.append(svg("line", { class: "gridline", x1: m.l, x2: W - m.r, y1: y, y2: y }));
      axis.append(svg("text", { x: m.l - 6, y: y + 4, "text-anchor": "end" }, t.label));
    }
    for (const t of niceTicks(x0, x1, 6)) {
      const x = X(t.value);
      axis.append(svg("line", { x1: x, x2: x, y1: H - m.b, y2: H - m.b + 4 }));
      axis.append(svg("text", { x, y: H - m.b + 16, "text-anchor": "middle" }, t.label));
    }
    axis.append(svg("path", { d: `M${m.l},${m.t}V${H - m.b}H${W - m.r}`, fill: "none" }));
    if (opts.xlabel) axis.append(svg("text", { x: (m.l + W - m.r) / 2, y: H - 4, "text-anchor": "middle" }, opts.xlabel));
    if (opts.ylabel) axis.append(svg("text", { x: 12, y: (m.t + H - m.b) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(m.t + H - m.b) / 2})` }, opts.ylabel + (logY ? " (log)" : "")));
    root.append(axis);
    series.forEach((s, i) => {
      const color = s.color || PALETTE[i % PALETTE.length];
      const d = s.points.map((p, j) => `${j ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join("");
      const path = svg("path", { d, fill: "none", stroke: color, "stroke-width": s.width || 1.8, "stroke-dasharray": s.dash || null, class: "series", dataset: { name: s.name } }, svg("title", {}, s.name));
      root.append(path);
      if (s.points.length < 30) s.points.forEach((p) => root.append(svg("circle", { cx: X(p[0]), cy: Y(p[1]), r: 2.3, fill: color }, svg("title", {}, `${s.name}: ${fmt(p[1], 4)} at ${fmt(p[0])}`))));
    });
    for (const line of opts.hlines || []) {
      if (line.y < Math.min(...ys) - (y1 - y0) || ty(line.y) > y1) continue;
      const y = Y(line.y);
      root.append(svg("line", { x1: m.l, x2: W - m.r, y1: y, y2: y, stroke: line.color || "#888", "stroke-dasharray": "4 3" }));
      root.append(svg("text", { x: W - m.r - 2, y: y - 4, "text-anchor": "end", fill: line.color || "#666", stroke: "#fff", "stroke-width": 3, "paint-order": "stroke" }, line.label));
    }
    box.append(root);
    if (series.length > 1 || opts.legend) {
      box.append(el("div", { class: "legend" }, series.map((s, i) => el("span", {},
        el("span", { class: "sw", style: `background:${s.color || PALETTE[i % PALETTE.length]}${s.dash ? ";opacity:.55" : ""}` }), s.name))));
    }
    return box;
  }

  return { data, el, svg, fmt, cerColor, stat, sortableTable, lineChart, PALETTE };
})();
