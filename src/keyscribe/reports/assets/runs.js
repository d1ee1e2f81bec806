/* Training runs and sweeps: loss, CER and learning-rate curves (every run overlaid for a sweep),
   the sweep's results table with sortable columns, each run's config and results.json. */
(() => {
  const { data: D, el, fmt, stat, sortableTable, lineChart, PALETTE } = KS;
  const app = document.getElementById("app");
  const sweep = D.kind === "sweep";
  const color = new Map(D.runs.map((r, i) => [r.name, PALETTE[i % PALETTE.length]]));
  const hidden = new Set();

  const lrKeys = (curves) => Object.keys(curves).filter((k) => k.startsWith("lr-"));
  const PANELS = [
    { title: "CTC loss", ylabel: "loss", logY: true, keys: [["train/loss_epoch", "train", "4 3"], ["val/loss", "val", null]] },
    { title: "CER", ylabel: "CER (%)", keys: [["train/CER", "train", "4 3"], ["val/CER", "val", null]], yMin: 0 },
    { title: "learning rate", ylabel: "lr", keys: "lr" },
  ];

  function panelSeries(panel, runs) {
    const out = [];
    for (const run of runs) {
      const keys = panel.keys === "lr" ? lrKeys(run.curves).map((k) => [k, k.slice(3), null]) : panel.keys;
      keys.forEach(([key, label, dash], j) => {
        const points = run.curves[key];
        if (!points) return;
        const name = sweep ? `${run.name} ${label}` : label;
        out.push({ name, points, dash, color: sweep ? color.get(run.name) : PALETTE[j] });
      });
    }
    return out;
  }

  const chartBox = el("div", { class: "charts", id: "charts" });
  function drawCharts() {
    const runs = D.runs.filter((r) => !hidden.has(r.name));
    chartBox.replaceChildren(...PANELS.map((p) => el("div", { class: "card" },
      lineChart({ title: p.title, xlabel: "epoch", ylabel: p.ylabel, logY: p.logY, yMin: p.yMin, series: panelSeries(p, runs) }))));
  }

  const head = [el("h1", { text: (sweep ? "Sweep " : "Run ") + D.name }), el("p", { class: "sub", text: D.path })];
  if (!sweep) {
    const row = D.runs[0].row;
    head.push(el("div", { class: "stats" },
      stat("status", row.status), stat("epochs", fmt(row.epochs)), stat("steps", fmt(row.steps)),
      stat("parameters", fmt(row.parameters)), stat("val CER", row.val_cer === null ? "–" : fmt(row.val_cer) + " %"),
      stat("test CER", row.test_cer === null ? "–" : fmt(row.test_cer) + " %"),
      stat("wall time", row.wall_time_s === null ? "–" : fmt(row.wall_time_s / 60, 1) + " min")));
  }
  app.replaceChildren(...head);

  if (sweep) {
    const LABELS = { run: "run", description: "description", status: "status", epochs: "epochs", max_epochs: "max epochs", steps: "steps",
      parameters: "parameters", train_cer: "train CER (%)", val_cer: "val CER (%)", test_cer: "test CER (%)", best_val_loss: "best val loss", wall_time_s: "wall time (s)" };
    const TEXT = new Set(["run", "description", "status"]);
    const columns = [{ key: "show", label: "curves", format: (_, row) => {
      const box = el("input", { type: "checkbox", checked: !hidden.has(row.run), "aria-label": "show curves of " + row.run,
        onchange: (e) => { if (e.target.checked) hidden.delete(row.run); else hidden.add(row.run); drawCharts(); } });
      return el("label", {}, box, el("span", { class: "sw", style: `display:inline-block;width:12px;height:12px;margin-left:4px;background:${color.get(row.run)}` }));
    } }].concat(D.columns.map((key) => ({ key, label: LABELS[key] || key, num: !TEXT.has(key) })));
    app.append(el("section", { class: "card", id: "results" }, el("h2", { text: `Results (${D.runs.length} runs)` }),
      el("p", { class: "note", text: "Click a column header to sort; untick a run to leave its curves out." }),
      sortableTable(columns, D.runs.map((r) => r.row), { sortKey: null })));
  }
  app.append(el("p", { class: "note", text: sweep ? "Dashed: training; solid: validation. Colours as in the table." : "Dashed: training; solid: validation." }), chartBox);
  drawCharts();

  for (const run of D.runs) {
    app.append(el("section", { class: "card run" }, el("h2", { text: sweep ? run.name : "Details" }),
      run.config ? el("details", {}, el("summary", { text: "config.yaml" }), el("pre", { class: "code", text: run.config })) : el("p", { class: "note", text: "no config.yaml" }),
      run.results ? el("details", {}, el("summary", { text: "results.json" }), el("pre", { class: "code", text: JSON.stringify(run.results, null, 2) })) : el("p", { class: "note", text: "no results.json (the run has not finished)" })));
  }
})();
