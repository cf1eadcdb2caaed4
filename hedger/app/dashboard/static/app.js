// hedger dashboard: renders what the server sends (it formats every number; this file formats none of the
// tables' values), keeps the charts, and listens for one update per block. No framework, no external request.
"use strict";
(function () {
  const hedger = (window.__hedger = { firstRender: null, rendered: {}, updates: 0 });
  const page = document.body.dataset.page;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const el = (tag, attrs, text) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  };

  function renderTable(container, data, prefix) {
    if (!container) return;
    container.replaceChildren();
    if (!data || !data.rows.length) { container.append(el("p", { class: "empty" }, "(none)")); return; }
    const table = el("table"), head = el("tr"), body = el("tbody");
    for (const [, label] of data.columns) head.append(el("th", {}, label));
    table.append(el("thead")); table.tHead.append(head);
    for (const row of data.rows) {
      const tr = el("tr", { class: "status-" + row.status, "data-row": prefix + "." + row.id, title: row.note || null });
      for (const [key] of data.columns) {
        tr.append(el("td", { class: key, "data-cell": prefix + "." + row.id + "." + key }, row.cells[key]));
      }
      body.append(tr);
    }
    table.append(body); container.append(table);
  }

  function setPanel(name, status, notes) {
    const panel = $(`[data-panel="${name}"]`);
    if (!panel) return;
    panel.classList.remove("status-ok", "status-warn", "status-bad");
    panel.classList.add("status-" + status);
    panel.dataset.status = status;
    const list = $("ul.notes", panel);
    if (list) { list.replaceChildren(...(notes || []).map((n) => el("li", {}, n))); }
  }

  function rowNotes(table) { return table.rows.filter((r) => r.note).map((r) => `${r.id}: ${r.note}`); }

  function renderHeader(state) {
    const m = state.meta;
    const set = (id, text) => { const node = document.getElementById(id); if (node) node.textContent = text; };
    set("network", `${m.network} (chain ${m.chain_id})`);
    set("account", m.account_short); const acc = $("#account"); if (acc) acc.title = m.account;
    set("block", String(m.block)); set("block-time", m.block_time);
    set("rpc", m.rpc); set("snapshot-ms", String(m.snapshot_ms)); set("round-trips", String(m.rpc_round_trips));
    const v = $("#verdict"); if (v) { v.textContent = state.verdict.replace("_", "-"); v.className = "badge " + state.verdict; }
  }

  function renderLive(state) {
    const p = state.panels;
    renderTable($('[data-table="exposure"]'), p.exposure.table, "exposure");
    setPanel("exposure", p.exposure.status, rowNotes(p.exposure.table));
    renderTable($('[data-table="positions"]'), p.positions.table, "positions");
    renderTable($('[data-table="margins"]'), p.positions.margins, "margins");
    setPanel("positions", p.positions.status, rowNotes(p.positions.table).concat(rowNotes(p.positions.margins)));
    $("#funding-caption").textContent = p.funding.caption;
    renderTable($('[data-table="funding"]'), p.funding.table, "funding");
    setPanel("funding", p.funding.status, rowNotes(p.funding.table));
    renderTable($('[data-table="oracles"]'), p.oracles.table, "oracles");
    const seq = $("#sequencer");
    seq.textContent = p.oracles.sequencer ? p.oracles.sequencer.text : "no sequencer feed on this network";
    seq.className = p.oracles.sequencer ? p.oracles.sequencer.status : "";
    setPanel("oracles", p.oracles.status, p.oracles.notes);
    const pv = $("#plan-verdict"); pv.textContent = p.plan.verdict.replace("_", "-"); pv.className = "badge " + p.plan.verdict;
    renderTable($('[data-table="actions"]'), p.plan.actions, "actions");
    renderTable($('[data-table="guards"]'), p.plan.guards, "guards");
    const reasons = $("#reasons");
    reasons.replaceChildren(...(p.plan.reasons.length ? p.plan.reasons : [{ code: "", message: "(none)", values: "" }]).map((r) => {
      const li = el("li", { "data-code": r.code });
      if (r.code) li.append(el("code", {}, r.code), document.createTextNode(": "));
      li.append(document.createTextNode(r.message));
      if (r.values) li.append(el("div", { class: "values" }, r.values));
      return li;
    }));
    setPanel("plan", p.plan.status, []);
    renderTable($('[data-table="pending"]'), p.pending.table, "pending");
    setPanel("pending", p.pending.status, []);
    renderKeeper(p.keeper);
    renderJournal(p.journal);
  }

  function renderKeeper(k) {
    const dl = $("#keeper");
    dl.replaceChildren();
    for (const item of k.items) {
      dl.append(el("dt", {}, item.label), el("dd", { class: item.status, "data-item": item.label }, item.value));
    }
    setPanel("keeper", k.status, []);
    $('[data-panel="keeper"]').dataset.killSwitch = k.engaged ? "engaged" : "off";
  }

  function renderJournal(j) {
    const box = $("#journal");
    $("#journal-path").textContent = j.available ? `journal ${j.path}` : `no journal at ${j.path} (nothing sent from here yet)`;
    box.replaceChildren();
    if (!j.intents.length) { box.append(el("p", { class: "empty" }, "(no intents)")); return; }
    for (const intent of j.intents) {
      const div = el("div", { class: "intent " + intent.level, "data-intent": intent.id });
      div.append(el("span", { class: "state" }, intent.status), document.createTextNode(
        ` ${intent.kind} ${intent.market} · planned at block ${intent.plan_block} · ${intent.created}` + (intent.error ? ` · ${intent.error}` : "")));
      const txs = el("div", { class: "txs" });
      for (const tx of intent.txs) {
        const line = el("div");
        if (tx.link) line.append(el("a", { href: tx.link, target: "_blank", rel: "noreferrer noopener" }, tx.short));
        else line.append(el("span", { title: tx.hash }, tx.short));
        line.append(document.createTextNode(` ${tx.purpose} · nonce ${tx.nonce} · ${tx.status}` + (tx.block ? ` in block ${tx.block}` : "") + (tx.error ? ` · ${tx.error}` : "")));
        txs.append(line);
      }
      div.append(txs); box.append(div);
    }
  }

  function renderScenarios(list) {
    const box = $("#guide-charts");
    if (!box || !window.uPlot) return;
    const names = list.map((s) => s.asset).join(",");
    if (box.dataset.assets !== names) {
      for (const key of Object.keys(charts)) if (key.startsWith("scenario-")) { charts[key].destroy(); delete charts[key]; }
      box.replaceChildren(...list.map((s) => {
        const fig = el("figure");
        fig.append(el("figcaption", {}, s.asset + ": price move (%) → USD"), el("div", { id: "scenario-" + s.asset }));
        return fig;
      }));
      box.dataset.assets = names;
    }
    for (const s of list) {
      const data = [s.moves, s.unhedged_usd, s.hedged_usd];
      const key = "scenario-" + s.asset;
      if (charts[key]) { charts[key].setData(data); continue; }
      const node = document.getElementById(key);
      charts[key] = new window.uPlot({
        width: chartWidth(node), height: 220, legend: { live: false },
        scales: { x: { time: false }, y: { range: yRange } },
        axes: [{ values: tick(0) }, { label: "USD", size: 80, values: tick(0) }],
        series: [{}, { label: "held alone", stroke: "#1d2330", width: 1.5 }, { label: "held + perps", stroke: palette[0], width: 2 }],
      }, data, node);
    }
  }

  function renderGuide(state) {
    renderScenarios(state.scenarios || []);
    const box = $("#guide");
    box.replaceChildren();
    for (const section of state.guide) {
      const s = el("section", { class: "panel" });
      s.append(el("h2", {}, section.title));
      const list = el("ul", { class: section.title.startsWith("Guards") ? "settings" : "" });
      for (const line of section.lines) list.append(el("li", {}, line));
      s.append(list); box.append(s);
    }
  }

  // ---------------------------------------------------------------- charts (uPlot)
  const palette = ["#2f5fd0", "#d9822b", "#1f8a4c", "#9b3fc0", "#c0292b", "#12867f"];
  const charts = {};
  let history = [], prices = {};

  function chartWidth(node) { return Math.max(300, node.clientWidth || node.parentNode.clientWidth || 400); }

  // A single point or a flat line still gets a readable range (uPlot would otherwise pick years or 0 width).
  const xRange = (u, min, max) => (min === max || min === null ? [(min || 0) - 60, (max || 0) + 60] : [min, max]);
  const yRange = (u, min, max) => {
    if (min === null || max === null) return [0, 1];
    const pad = Math.max(Math.abs(max - min) * 0.08, Math.abs(max) * 0.002, 1e-6);
    return [min - pad, max + pad];
  };
  const tick = (digits) => (u, values) => values.map((v) => (v === null ? "" : v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 })));

  function makeChart(key, node, series, data, yLabel, digits) {
    if (!window.uPlot || !node) return null;
    if (charts[key]) { charts[key].destroy(); }
    const xs = data[0].filter((x) => x !== null);
    const single = new Set(xs).size < 2;
    const x = single && xs.length ? { time: true, auto: false, min: xs[0] - 60, max: xs[0] + 60 } : { time: true, range: xRange };
    const opts = {
      width: chartWidth(node), height: 200, legend: { live: false },
      scales: { x: x, y: { range: yRange } },
      axes: [{}, { label: yLabel, size: 80, values: tick(digits === undefined ? 2 : digits) }],
      series: [{}].concat(series),
    };
    charts[key] = new window.uPlot(opts, data, node);
    charts[key].single = single;
    return charts[key];
  }

  function assetsOf(points, field) {
    const names = new Set();
    for (const p of points) for (const k of Object.keys(p[field] || {})) names.add(k);
    return [...names].sort();
  }

  function drawCharts() {
    if (!window.uPlot) return;
    const priceBox = $("#chart-prices");
    if (priceBox) {
      const assets = Object.keys(prices).sort();
      if (priceBox.dataset.assets !== assets.join(",")) {
        priceBox.replaceChildren(...assets.map((a) => el("div", { class: "price-chart", id: "price-" + a })));
        priceBox.dataset.assets = assets.join(",");
        for (const a of assets) if (charts["price-" + a]) { charts["price-" + a].destroy(); delete charts["price-" + a]; }
      }
      assets.forEach((a, i) => {
        const data = [prices[a].map((p) => p[0]), prices[a].map((p) => p[1])];
        const c = charts["price-" + a];
        if (c && !(c.single && new Set(data[0]).size > 1)) c.setData(data);
        else makeChart("price-" + a, $("#price-" + a), [{ label: a + " USD", stroke: palette[i % palette.length], width: 1.5 }], data, a);
      });
    }
    const xs = history.map((p) => p.t);
    const ratioAssets = assetsOf(history, "ratio");
    const ratioData = [xs];
    const ratioSeries = [];
    ratioAssets.forEach((a, i) => {
      ratioData.push(history.map((p) => (p.ratio[a] === undefined ? null : p.ratio[a])));
      ratioSeries.push({ label: a + " realised", stroke: palette[i % palette.length], width: 1.5 });
      ratioData.push(history.map((p) => (p.target[a] === undefined ? null : p.target[a])));
      ratioSeries.push({ label: a + " target", stroke: palette[i % palette.length], dash: [6, 4], width: 1 });
    });
    const sets = [
      ["ratio", ratioSeries, ratioData, "ratio", 4],
      ["value", [{ label: "unhedged", stroke: "#1d2330", width: 1.5 }, { label: "hedged", stroke: palette[0], width: 1.5 }],
        [xs, history.map((p) => p.unhedged_usd), history.map((p) => p.hedged_usd)], "USD", 2],
      ["funding", [{ label: "funding owed", stroke: palette[1], width: 1.5 }], [xs, history.map((p) => p.funding_owed_usd)], "USD", 6],
    ];
    for (const [key, series, data, label, digits] of sets) {
      const node = document.getElementById("chart-" + key);
      const c = charts[key];
      if (c && c.series.length === series.length + 1 && !(c.single && new Set(xs).size > 1)) c.setData(data);
      else makeChart(key, node, series, data, label, digits);
    }
  }

  window.addEventListener("resize", () => {
    for (const [key, c] of Object.entries(charts)) {
      const node = key.startsWith("price-") ? document.getElementById(key) : document.getElementById("chart-" + key);
      if (node) c.setSize({ width: chartWidth(node), height: 200 });
    }
  });

  // ---------------------------------------------------------------- live updates
  function render(state) {
    if (!state) return;
    renderHeader(state);
    if (page === "live") renderLive(state);
    if (page === "guide") renderGuide(state);
    hedger.state = state;
    hedger.rendered[state.meta.block] = Date.now();
    if (hedger.firstRender === null) hedger.firstRender = performance.now();
  }

  function addPoint(state) {
    const point = state.point;
    // a reorg (or a reverted test chain) undoes blocks: drop them so that time only moves forward
    while (history.length && (history[history.length - 1].block >= point.block || history[history.length - 1].t > point.t)) history.pop();
    history.push(point);
    if (history.length > 2000) history.shift();
    for (const [asset, round] of Object.entries(point.rounds || {})) {
      const series = prices[asset] || (prices[asset] = []);
      if (!series.length || series[series.length - 1][0] < round[0]) series.push(round);
    }
  }

  function connect() {
    const dot = $("#connection");
    const source = new EventSource("/api/events");
    source.addEventListener("full", (e) => {
      const data = JSON.parse(e.data);
      history = data.history || []; prices = data.prices || {};
      banner(data.error);
      if (data.state) { render(data.state); if (page === "live") drawCharts(); }
      if (dot) { dot.className = "dot live"; dot.title = "live"; }
    });
    source.addEventListener("update", (e) => {
      const data = JSON.parse(e.data);
      hedger.updates += 1;
      addPoint(data.state);
      render(data.state);
      if (page === "live") drawCharts();
    });
    source.addEventListener("status", (e) => banner(JSON.parse(e.data).error));
    source.onerror = () => { if (dot) { dot.className = "dot down"; dot.title = "reconnecting"; } };
  }

  function banner(message) {
    const node = $("#banner");
    if (!node) return;
    node.hidden = !message;
    const dot = $("#connection");
    if (dot) { dot.className = message ? "dot stale" : "dot live"; dot.title = message ? "chain unavailable" : "live"; }
    node.textContent = message ? "Chain unavailable: " + message + " (retrying; the numbers below are from the last good block)" : "";
  }

  // ---------------------------------------------------------------- backtests
  async function backtests() {
    const listing = await (await fetch("/api/backtests")).json();
    $("#report-dirs").textContent = "from " + (listing.directories.join(", ") || "(no directory)") + " · `hedger backtest --out DIR`, then `hedger dashboard --reports DIR`";
    const list = $("#report-list");
    if (!listing.reports.length) list.append(el("li", { class: "empty" }, "no reports found"));
    for (const r of listing.reports) {
      const li = el("li");
      const a = el("a", { href: "#" + encodeURIComponent(r.name) }, r.name);
      li.append(a, document.createTextNode(` · ${r.spot || "?"} hedged with the ${r.hedge || "?"} perp` + (r.start ? ` · ${r.start} → ${r.end}` : "")));
      list.append(li);
    }
    const open = async () => {
      const name = decodeURIComponent(location.hash.slice(1)) || (listing.reports[0] && listing.reports[0].name);
      if (!name) return;
      const report = await (await fetch("/api/backtests/" + encodeURIComponent(name))).json();
      if (report.error) return;
      $("#report").hidden = false;
      const data = report.metrics.data || {};
      $("#report-title").textContent = `${name}: ${data.spot_asset || "?"} spot hedged with the ${data.hedge_asset || "?"} perp`;
      const dl = $("#report-data"); dl.replaceChildren();
      for (const [k, v] of Object.entries(data)) dl.append(el("dt", {}, k), el("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v)));
      const policies = report.metrics.policies || {};
      const names = Object.keys(policies);
      const keys = names.length ? Object.keys(policies[names[0]].metrics) : [];
      const fmt = (v) => (v === null || v === undefined ? "n/a" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v));
      renderTable($("#report-metrics"), {
        columns: [["policy", "policy"]].concat(keys.map((k) => [k, k])),
        rows: names.map((n) => ({ id: n, status: "ok", cells: Object.assign({ policy: n }, Object.fromEntries(keys.map((k) => [k, fmt(policies[n].metrics[k])]))) })),
      }, "metrics");
      const charts = $("#report-charts"); charts.replaceChildren();
      for (const c of report.charts) {
        const fig = el("figure");
        fig.append(el("img", { src: `/backtests/${encodeURIComponent(name)}/${c.name}.png`, alt: c.caption }), el("figcaption", {}, c.caption));
        charts.append(fig);
      }
    };
    window.addEventListener("hashchange", open);
    open();
  }

  if (page === "backtests") backtests();
  else connect();
})();
