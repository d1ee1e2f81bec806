/* sEMG sessions: a zoomable timeline per session (log-spectrogram strip of both bands, reference
   keys at their press times, decoded keys where CTC emitted them, errors marked), the keys as
   typed and the text after backspaces, and for streamed sessions the compute time per chunk. */
(() => {
  const { data: D, el, svg, fmt, cerColor, stat, lineChart } = KS;
  const app = document.getElementById("app");
  const S = D.summary;
  const OP_COLOR = { "=": "#1c2230", s: "#d9480f", d: "#d6336c", i: "#d6336c" };
  const OP_NAME = { "=": "correct", s: "substituted", d: "missed", i: "inserted" };
  const glyph = (c) => (c === " " ? "\u2423" : c === "\n" ? "\u23ce" : c);

  const stats = [];
  if (S.items !== undefined) stats.push(stat("sessions", fmt(S.items)));
  if (S.cer !== undefined) stats.push(stat("CER", fmt(S.cer) + " %"));
  if (S.wer !== undefined) stats.push(stat("WER", fmt(S.wer) + " %"));
  if (S.offline_cer !== undefined) stats.push(stat("offline CER", fmt(S.offline_cer) + " %"));
  if (S.cer_substitutions !== undefined) stats.push(stat("substituted", fmt(S.cer_substitutions)), stat("missed", fmt(S.cer_deletions)), stat("inserted", fmt(S.cer_insertions)));
  if (S.chunk_ms !== undefined) stats.push(stat("chunk", fmt(S.chunk_ms, 1) + " ms"), stat("mean compute", fmt(S.mean_chunk_ms, 2) + " ms"), stat("p95 compute", fmt(S.p95_chunk_ms, 2) + " ms"), stat("real-time factor", fmt(S.real_time_factor, 4)));
  if (S.decoder) stats.push(stat("decoder", S.decoder));
  app.replaceChildren(el("h1", { text: D.title }),
    el("p", { class: "sub", text: [S.data || S.session, S.checkpoint, S.encoder].filter(Boolean).join(" · ") }),
    el("div", { class: "stats" }, stats));

  if (D.latency && D.latency.compute_ms && D.latency.compute_ms.length) {
    const step = (D.latency.chunk_ms || 1) / 1000;
    const points = D.latency.compute_ms.map((ms, i) => [(i + 1) * step, ms]);
    app.append(el("section", { class: "card", id: "latency" }, el("h2", { text: "Compute time per chunk" }),
      el("p", { class: "note", text: `Each chunk of ${fmt(D.latency.chunk_ms, 1)} ms of signal, by when it ends in the session. Above the dashed chunk line, a chunk takes longer to decode than to record.` }),
      lineChart({ xlabel: "session time (s)", ylabel: "compute (ms)", yMin: 0, width: 1200, height: 230,
        series: [{ name: "compute per chunk", points, width: 1.2 }],
        hlines: [{ y: D.latency.chunk_ms, label: "chunk length", color: "#d6336c" }, { y: D.latency.p95_ms, label: "p95", color: "#868e96" }] })));
  }

  const sessionsBox = el("div", { id: "sessions" });
  app.append(el("div", { class: "legend" },
    el("span", {}, el("span", { class: "sw", style: "background:#1c2230" }), "correct key"),
    el("span", {}, el("span", { class: "sw", style: `background:${OP_COLOR.s}` }), "substituted"),
    el("span", {}, el("span", { class: "sw", style: `background:${OP_COLOR.d}` }), "missed (reference) / inserted (decoded)"),
    el("span", {}, el("span", { class: "sw", style: "background:#2f5fd0" }), "bar under a decoded key: its confidence"),
    el("span", {}, "drag to pan, wheel or buttons to zoom")), sessionsBox);

  function coloured(text, ops) {
    const pre = el("pre", {});
    let run = "", op = null;
    const flush = () => { if (run) pre.append(op === "=" ? run : el("span", { style: `color:${OP_COLOR[op]};font-weight:700`, title: OP_NAME[op], text: run })); run = ""; };
    for (let i = 0; i < text.length; i++) {
      if (ops[i] !== op) { flush(); op = ops[i]; }
      run += text[i];
    }
    flush();
    return pre;
  }

  function timeline(s) {
    const times = [].concat(s.ref_times || [], s.hyp_times || []);
    const duration = s.duration_s || (times.length ? Math.max(...times) + 1 : 1);
    const view = { t0: 0, t1: Math.min(duration, 20) };
    const box = el("div", { class: "timeline", tabindex: 0, "aria-label": "timeline of " + s.id });
    const range = el("span", { class: "range" });
    const pan = el("input", { type: "range", min: 0, max: 1000, value: 0, "aria-label": "position", style: "flex:1 1 160px",
      oninput: (e) => { const w = view.t1 - view.t0; view.t0 = (Number(e.target.value) / 1000) * Math.max(0, duration - w); view.t1 = view.t0 + w; draw(); } });
    const zoom = (factor, centre) => {
      const w = Math.min(duration, Math.max(0.5, (view.t1 - view.t0) * factor));
      const c = centre === undefined ? (view.t0 + view.t1) / 2 : centre;
      const f = (c - view.t0) / (view.t1 - view.t0);
      view.t0 = Math.max(0, Math.min(duration - w, c - f * w)); view.t1 = view.t0 + w; draw();
    };
    const controls = el("div", { class: "tl-controls" },
      el("button", { class: "btn", type: "button", title: "zoom in", text: "+", onclick: () => zoom(0.5) }),
      el("button", { class: "btn", type: "button", title: "zoom out", text: "\u2212", onclick: () => zoom(2) }),
      el("button", { class: "btn", type: "button", text: "whole session", onclick: () => { view.t0 = 0; view.t1 = duration; draw(); } }),
      pan, range);
    const spec = s.spectrogram;
    const specH = spec ? Math.round(spec.rows * 1.7) : 0;
    const REF_Y = specH + 32, HYP_Y = specH + 76, H = specH + 112;

    let first = true;
    function draw() {
      const W = Math.max(300, box.clientWidth || 900);
      if (first) { view.t1 = Math.min(duration, Math.max(4, (20 * W) / 1200)); first = false; }  // ~20 s on a desktop, fewer on a phone
      const span = view.t1 - view.t0;
      const X = (t) => ((t - view.t0) / span) * W;
      const root = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}` });
      if (spec) {
        for (const tile of spec.tiles) {
          if (tile.t1 < view.t0 || tile.t0 > view.t1) continue;
          root.append(svg("image", { href: tile.src, x: X(tile.t0), y: 0, width: Math.max(1, X(tile.t1) - X(tile.t0)), height: specH, preserveAspectRatio: "none" }));
        }
        root.append(svg("text", { x: 4, y: 12, fill: "#fff", "font-size": 11 }, "left band"),
          svg("text", { x: 4, y: specH / 2 + 13, fill: "#fff", "font-size": 11 }, "right band"));
      }
      root.append(svg("rect", { x: 0, y: specH, width: W, height: H - specH, fill: "#fff" }));
      const HALO = { fill: "#5d6678", "font-size": 10.5, stroke: "#fff", "stroke-width": 3, "paint-order": "stroke" };
      const laneLabels = [svg("text", { x: 4, y: REF_Y - 18, ...HALO }, "reference keys at their press times"),
        svg("text", { x: 4, y: HYP_Y - 20, ...HALO }, "decoded keys at their CTC frames")];
      const visible = (ts) => (ts ? ts.map((t, i) => [t, i]).filter(([t]) => t >= view.t0 - 0.05 && t <= view.t1 + 0.05) : []);
      const refs = visible(s.ref_times), hyps = visible(s.hyp_times);
      const glyphs = refs.length + hyps.length < W / 5;
      if (s.ref_times && s.hyp_times) {
        const pairs = svg("g", { class: "pairs" });
        for (const [r, h] of s.pairs) {
          const tr = s.ref_times[r], th = s.hyp_times[h];
          if ((tr < view.t0 && th < view.t0) || (tr > view.t1 && th > view.t1)) continue;
          pairs.append(svg("line", { x1: X(tr), y1: REF_Y + 4, x2: X(th), y2: HYP_Y - 14, stroke: s.ref_ops[r] === "=" ? "#ced4da" : "#f5a97f" }));
        }
        root.append(pairs);
      }
      for (const [t, i] of refs) {
        const op = s.ref_ops[i], c = s.reference[i];
        const g = svg("g", { class: "key-ref", dataset: { op } }, svg("title", {}, `reference ${glyph(c)} at ${t.toFixed(2)} s (${OP_NAME[op]})`));
        g.append(glyphs ? svg("text", { x: X(t), y: REF_Y, fill: OP_COLOR[op] }, glyph(c)) : svg("line", { x1: X(t), x2: X(t), y1: REF_Y - 10, y2: REF_Y + 2, stroke: OP_COLOR[op] }));
        root.append(g);
      }
      for (const [t, i] of hyps) {
        const op = s.hyp_ops[i], c = s.decoded[i], conf = s.conf ? s.conf[i] : null;
        const g = svg("g", { class: "key-hyp", dataset: { op } }, svg("title", {}, `decoded ${glyph(c)} at ${t.toFixed(2)} s${conf === null ? "" : `, confidence ${conf.toFixed(3)}`} (${OP_NAME[op]})`));
        g.append(glyphs ? svg("text", { x: X(t), y: HYP_Y, fill: OP_COLOR[op] }, glyph(c)) : svg("line", { x1: X(t), x2: X(t), y1: HYP_Y - 10, y2: HYP_Y + 2, stroke: OP_COLOR[op] }));
        if (conf !== null) g.append(svg("rect", { x: X(t) - 3, y: HYP_Y + 16 - 12 * conf, width: 6, height: Math.max(0.5, 12 * conf), fill: "#2f5fd0", opacity: 0.75 }));
        root.append(g);
      }
      root.append(...laneLabels);
      const axis = svg("g", { class: "axis" });
      const raw = span / 8, mag = Math.pow(10, Math.floor(Math.log10(raw)));
      const step = [1, 2, 5, 10].map((m) => m * mag).find((v) => v >= raw);
      for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
        axis.append(svg("line", { x1: X(t), x2: X(t), y1: H - 16, y2: H - 11, stroke: "#868e96" }),
          svg("text", { x: X(t), y: H - 1, "text-anchor": X(t) < 24 ? "start" : X(t) > W - 24 ? "end" : "middle", fill: "#5d6678", "font-size": 10.5 }, `${+t.toFixed(3)} s`));
      }
      root.append(svg("line", { x1: 0, x2: W, y1: H - 16, y2: H - 16, stroke: "#ced4da" }), axis);
      box.replaceChildren(root);
      box.dataset.refDrawn = refs.length;
      box.dataset.hypDrawn = hyps.length;
      range.textContent = `${view.t0.toFixed(2)}\u2013${view.t1.toFixed(2)} s of ${duration.toFixed(1)} s`;
      pan.value = duration > span ? Math.round((1000 * view.t0) / (duration - span)) : 0;
    }

    box.addEventListener("wheel", (e) => {
      e.preventDefault();
      const rect = box.getBoundingClientRect();
      zoom(Math.exp(e.deltaY * 0.0015), view.t0 + ((e.clientX - rect.left) / rect.width) * (view.t1 - view.t0));
    }, { passive: false });
    let drag = null;
    box.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, t0: view.t0 }; box.classList.add("dragging"); box.setPointerCapture(e.pointerId); });
    box.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const w = view.t1 - view.t0;
      view.t0 = Math.max(0, Math.min(duration - w, drag.t0 - ((e.clientX - drag.x) / box.clientWidth) * w));
      view.t1 = view.t0 + w; draw();
    });
    const stop = () => { drag = null; box.classList.remove("dragging"); };
    box.addEventListener("pointerup", stop);
    box.addEventListener("pointercancel", stop);
    box.addEventListener("keydown", (e) => {
      const w = view.t1 - view.t0;
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        view.t0 = Math.max(0, Math.min(duration - w, view.t0 + (e.key === "ArrowRight" ? 0.25 : -0.25) * w)); view.t1 = view.t0 + w; draw();
      } else if (e.key === "+" || e.key === "=") zoom(0.5);
      else if (e.key === "-") zoom(2);
    });
    let pending = null;
    window.addEventListener("resize", () => { clearTimeout(pending); pending = setTimeout(draw, 100); });
    return { node: el("div", {}, controls, box), draw };
  }

  const drawers = [];
  for (const s of D.sessions) {
    const head = el("div", { class: "line-head" },
      s.cer !== null ? el("span", { class: "badge", style: `background:${cerColor(s.cer)}`, text: `CER ${fmt(s.cer, 1)} %` }) : null,
      el("span", { class: "id", text: s.id }),
      el("span", { class: "m", text: `${s.reference.length} reference keys, ${s.decoded.length} decoded` }),
      s.duration_s ? el("span", { class: "m", text: `${fmt(s.duration_s, 1)} s` }) : null);
    const texts = el("div", { class: "texts" },
      el("div", {}, el("h3", { text: "reference keys, as typed" }), coloured(s.reference, s.ref_ops)),
      el("div", {}, el("h3", { text: "decoded keys" }), coloured(s.decoded, s.hyp_ops)),
      s.reference_typed !== null && s.reference_typed !== undefined ? el("div", {}, el("h3", { text: "reference text after backspaces" }), el("pre", { text: s.reference_typed })) : null,
      s.decoded_typed !== null && s.decoded_typed !== undefined ? el("div", {}, el("h3", { text: "decoded text after backspaces" }), el("pre", { text: s.decoded_typed })) : null);
    const card = el("section", { class: "session", dataset: { id: s.id } }, head);
    if (s.ref_times || s.hyp_times) {
      const tl = timeline(s);
      card.append(tl.node);
      drawers.push(tl.draw);
      if (!s.spectrogram) card.append(el("p", { class: "note", text: "No spectrogram: the session file was not found when this report was made." }));
    } else {
      card.append(el("p", { class: "note", text: "No key times in this result (save it with evaluate --json --per-item)." }));
    }
    card.append(texts);
    sessionsBox.append(card);
  }
  drawers.forEach((draw) => draw());
})();
