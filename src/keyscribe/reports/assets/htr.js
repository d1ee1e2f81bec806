/* HTR evaluation: one row per line, sortable and filterable, a confusion table that filters,
   a page view per page input, and the deformable sampling offsets as an overlay. */
(() => {
  const { data: D, el, svg, fmt, cerColor, stat } = KS;
  const app = document.getElementById("app");
  const S = D.summary;
  const SPACE = "\u2423", NOTHING = "\u2205";
  const show = (c) => (c === "" ? NOTHING : c === " " ? SPACE : c);
  const state = { text: "", confusion: null, sort: "file", layer: null };
  const LINE_PX = 64;
  const PAGE_PX = 380;

  app.replaceChildren(
    el("h1", { text: D.title || "HTR evaluation" }),
    el("p", { class: "sub", text: [S.data, S.checkpoint].filter(Boolean).join(" · ") }),
    el("div", { class: "stats" },
      stat("lines", fmt(D.rows.length)),
      S.cer !== undefined && stat("CER", fmt(S.cer) + " %"),
      S.wer !== undefined && stat("WER", fmt(S.wer) + " %"),
      S.cer_substitutions !== undefined && stat("substitutions", fmt(S.cer_substitutions)),
      S.cer_deletions !== undefined && stat("deletions", fmt(S.cer_deletions)),
      S.cer_insertions !== undefined && stat("insertions", fmt(S.cer_insertions)),
      S.decoder && stat("decoder", S.decoder)),
  );

  /* rows */
  const rowsBox = el("div", { class: "rows", id: "rows" });
  const rows = D.rows.map((r, index) => buildRow(r, index));

  function buildRow(r, index) {
    const ref = r.align.map((c) => c[0]).join(""), hyp = r.align.map((c) => c[1]).join("");
    const keys = new Set(r.align.filter((c) => "sdi".includes(c[2])).map((c) => c[0] + "\u0000" + c[1]));
    const wrap = el("div", { class: "img-wrap" });
    const mark = el("div", { class: "mark" });
    if (r.image) {
      // small normalised lines (32-40 px) are shown at least LINE_PX tall, aspect kept
      const scale = r.height ? Math.max(1, LINE_PX / r.height) : 1;
      wrap.append(el("img", { class: "line", src: r.image, alt: "line " + r.id, loading: "lazy",
        width: r.width || null, height: r.height || null, style: r.width ? `width:${Math.round(r.width * scale)}px` : null }), mark);
    }
    const align = el("div", { class: "align" });
    let k = 0;
    for (const [rc, hc, op] of r.align) {
      const hi = hc === "" ? -1 : k++;
      const conf = r.conf && hi >= 0 ? r.conf[hi] : null;
      const hSpan = el("span", { class: "h" + (hc === "" ? " gap" : ""), text: hc === "" ? "\u00b7" : hc });
      if (conf !== null) {
        hSpan.style.background = `rgba(var(--conf), ${(0.75 * (1 - conf)).toFixed(3)})`;
        hSpan.title = `${show(hc)}: confidence ${conf.toFixed(3)}`;
      }
      const col = el("span", { class: "col " + (op === "=" || op === "n" ? "e" : op), title: op === "=" || op === "n" ? null : { s: "substitution", d: "deletion", i: "insertion" }[op] + ` ${show(rc)} \u2192 ${show(hc)}` },
        el("span", { class: "r" + (rc === "" ? " gap" : ""), text: rc === "" ? "\u00b7" : rc }), hSpan);
      if (hi >= 0 && r.frames && r.num_frames && r.image) {
        const x = (100 * (r.frames[hi] + 0.5)) / r.num_frames;
        col.addEventListener("mouseenter", () => { mark.style.left = x + "%"; mark.style.display = "block"; });
        col.addEventListener("mouseleave", () => { mark.style.display = "none"; });
      }
      align.append(col);
    }
    const node = el("div", { class: "line-row", id: "row-" + index, dataset: { index, cer: r.cer, id: r.id } },
      el("div", { class: "line-head" },
        el("span", { class: "badge", style: `background:${r.cer === null ? "#868e96" : cerColor(r.cer)}`, text: r.cer === null ? "no reference" : `CER ${fmt(r.cer, 1)} %` }),
        el("span", { class: "id", text: r.id }),
        el("span", { class: "m", text: `${r.length} chars` }),
        r.mean_conf !== null && r.mean_conf !== undefined ? el("span", { class: "m", text: `mean confidence ${fmt(r.mean_conf, 3)}` }) : null),
      wrap,
      el("div", { class: "align-box" }, el("div", { class: "rowlabels" }, el("div", { text: "ref" }), el("div", { text: "hyp" })), align));
    node.style.borderLeftColor = r.cer === null ? "#ced4da" : cerColor(r.cer);
    return { r, node, wrap, keys, haystack: (r.id + "\n" + ref + "\n" + hyp).toLowerCase(), overlay: null };
  }

  /* deformable offsets overlay */
  function drawOverlay(row) {
    if (row.overlay) { row.overlay.forEach((n) => n.remove()); row.overlay = null; }
    if (state.layer === null || !row.r.offsets || !row.r.width) return;
    const o = row.r.offsets.find((x) => x.layer === state.layer);
    if (!o) return;
    const heat = el("img", { class: "heat", src: o.heat, alt: "",
      style: `width:${(100 * o.size[0]) / row.r.width}%;height:${(100 * o.size[1]) / row.r.height}%` });
    const grid = svg("svg", { class: "grid", viewBox: `0 0 ${row.r.width} ${row.r.height}`, preserveAspectRatio: "none" });
    for (const [regular, deformed] of o.grids) {
      for (const [x, y] of regular) grid.append(svg("circle", { cx: x, cy: y, r: 1.1, fill: "#1c7ed6" }));
      for (const [x, y] of deformed) grid.append(svg("circle", { cx: x, cy: y, r: 1.1, fill: "#e03131" }));
    }
    grid.append(svg("title", {}, `conv ${o.layer}: largest summed offset ${o.max} px`));
    row.wrap.append(heat, grid);
    row.overlay = [heat, grid];
  }

  /* toolbar */
  const search = el("input", { type: "search", id: "filter", placeholder: "Filter lines by text or id", "aria-label": "filter lines",
    oninput: (e) => { state.text = e.target.value.toLowerCase(); apply(); } });
  const sorter = el("select", { id: "sort", "aria-label": "sort lines", onchange: (e) => { state.sort = e.target.value; apply(); } },
    el("option", { value: "file", text: "file order" }),
    el("option", { value: "cer-desc", text: "CER, worst first" }),
    el("option", { value: "cer-asc", text: "CER, best first" }),
    el("option", { value: "conf-asc", text: "confidence, lowest first" }),
    el("option", { value: "len-desc", text: "length, longest first" }),
    el("option", { value: "len-asc", text: "length, shortest first" }));
  const count = el("span", { class: "count", id: "count" });
  const chipBox = el("span", { id: "active-confusion" });
  const tools = [el("label", {}, "Sort", sorter), search];
  if ((D.deformable_layers || []).length) {
    const layerSelect = el("select", { id: "offset-layer", "aria-label": "deformable layer" },
      D.deformable_layers.map((l) => el("option", { value: l, text: "conv " + l })));
    const toggle = el("input", { type: "checkbox", id: "offsets" });
    const redraw = () => { state.layer = toggle.checked ? Number(layerSelect.value) : null; rows.forEach(drawOverlay); };
    toggle.addEventListener("change", redraw);
    layerSelect.addEventListener("change", redraw);
    tools.push(el("label", { title: "where the deformable convolution samples: blue regular grid, red deformed; heat: summed offset size" }, toggle, "sampling offsets", layerSelect));
  }
  tools.push(chipBox, count);
  const toolbar = el("div", { class: "toolbar" }, tools);

  /* confusions */
  const confButtons = D.confusions.map(([r, h, n]) => el("button", {
    class: "conf-item", type: "button", dataset: { key: r + "\u0000" + h },
    title: r === "" ? `inserted ${show(h)}` : h === "" ? `deleted ${show(r)}` : `${show(r)} read as ${show(h)}`,
    onclick: (e) => { const key = e.currentTarget.dataset.key; state.confusion = state.confusion === key ? null : key; apply(); },
  }, `${show(r)} \u2192 ${show(h)}`, el("small", { text: "\u00d7" + n })));
  const confSection = el("section", { class: "card", id: "confusions" },
    el("h2", { text: "Most frequent character errors" }),
    el("p", { class: "note", text: `ref \u2192 hyp with counts (${NOTHING}: nothing, ${SPACE}: space); click one to show only the lines with it, again to show all.` }),
    D.confusions.length ? el("div", { class: "confusions" }, confButtons) : el("p", { text: "No errors." }));

  /* page views */
  const pageSection = D.pages.length ? el("section", { class: "card", id: "pages" },
    el("h2", { text: "Pages" }),
    el("p", { class: "note", text: "Each line's box is coloured by its CER (green: none, red: 50 % and more); click a box to go to its row." }),
    el("div", { class: "pages" }, D.pages.map(pageView))) : null;

  function pageView(p) {
    const [w, h] = p.size;
    // at most PAGE_PX tall: the width that keeps the page's aspect (the height follows the viewBox)
    const root = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": p.name, style: `width:${Math.round((PAGE_PX * w) / h)}px` });
    if (p.image) root.append(svg("image", { href: p.image, x: 0, y: 0, width: w, height: h, preserveAspectRatio: "none" }));
    for (const line of p.lines) {
      const color = cerColor(line.cer);
      root.append(svg("polygon", { points: line.polygon.map((q) => q.join(",")).join(" "), fill: color, "fill-opacity": 0.3, stroke: color,
        dataset: { row: line.row }, onclick: () => jump(line.row) }, svg("title", {}, `${D.rows[line.row].id}: CER ${fmt(line.cer, 1)} %`)));
    }
    return el("div", { class: "page-view" }, el("div", { class: "note", text: p.name + (p.image ? "" : " (page image not found)") }), root);
  }

  function jump(index) {
    const row = rows[index];
    if (row.node.hidden) { state.text = ""; search.value = ""; state.confusion = null; apply(); }
    row.node.scrollIntoView({ block: "center" });
    row.node.classList.add("flash");
    setTimeout(() => row.node.classList.remove("flash"), 1600);
  }

  const legend = el("div", { class: "legend" },
    el("span", {}, el("span", { class: "sw", style: "background:var(--sub)" }), "substitution"),
    el("span", {}, el("span", { class: "sw", style: "background:var(--del)" }), "deletion (in ref only)"),
    el("span", {}, el("span", { class: "sw", style: "background:var(--ins)" }), "insertion (in hyp only)"),
    el("span", {}, el("span", { class: "sw", style: "background:rgba(var(--conf),.6)" }), "hyp background: the darker, the less confident"));

  const SORTS = {
    file: null,
    "cer-desc": (a, b) => (b.r.cer ?? -1) - (a.r.cer ?? -1),
    "cer-asc": (a, b) => (a.r.cer ?? 1e9) - (b.r.cer ?? 1e9),
    "conf-asc": (a, b) => (a.r.mean_conf ?? 2) - (b.r.mean_conf ?? 2),
    "len-desc": (a, b) => b.r.length - a.r.length,
    "len-asc": (a, b) => a.r.length - b.r.length,
  };

  function apply() {
    const order = rows.slice();
    if (SORTS[state.sort]) order.sort((a, b) => SORTS[state.sort](a, b) || a.r.length - b.r.length);
    let shown = 0;
    for (const row of order) {
      const visible = (!state.text || row.haystack.includes(state.text)) && (!state.confusion || row.keys.has(state.confusion));
      row.node.hidden = !visible;
      shown += visible;
    }
    rowsBox.replaceChildren(...order.map((row) => row.node));
    confButtons.forEach((b) => b.classList.toggle("active", b.dataset.key === state.confusion));
    chipBox.replaceChildren();
    if (state.confusion) {
      const [r, h] = state.confusion.split("\u0000");
      chipBox.append(el("span", { class: "chip" }, `${show(r)} \u2192 ${show(h)}`,
        el("button", { type: "button", title: "show all lines", "aria-label": "clear", text: "\u00d7", onclick: () => { state.confusion = null; apply(); } })));
    }
    count.textContent = `${shown} of ${rows.length} lines`;
  }

  app.append(pageSection ? el("div", { class: "overview" }, pageSection, confSection) : confSection, toolbar, legend, rowsBox);
  apply();
})();
