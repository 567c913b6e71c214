"""The Pipelines page: one self-contained HTML document (no CDN, no build step).

Kept as a Python string so that it ships inside the wheel with no package-data
rule.  The script fetches each ``api/<section>`` relative to the page, so the
view works under any mount prefix, and builds the DOM with ``textContent``
only: values from specs and the ledger are never parsed as HTML.
``body[data-ready]`` turns ``true`` once every section has answered (the
browser test waits on it).
"""

from __future__ import annotations

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pipelines</title>
<style>
  :root { --fg:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bg:#f9fafb; --accent:#017cee;
          --ok:#15803d; --warn:#b45309; --bad:#b91c1c; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         color:var(--fg); background:var(--bg); }
  header { padding:14px 24px; background:#fff; border-bottom:1px solid var(--line);
           display:flex; align-items:baseline; gap:16px; }
  header h1 { font-size:20px; margin:0; }
  header .muted { font-size:12px; }
  main { padding:16px 24px; display:grid; gap:16px; }
  section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 16px; overflow-x:auto; }
  section h2 { font-size:16px; margin:0 0 10px; }
  .muted { color:var(--muted); }
  .cards { display:flex; flex-wrap:wrap; gap:10px; }
  .card { border:1px solid var(--line); border-radius:6px; padding:8px 14px; min-width:96px; }
  .card b { display:block; font-size:22px; }
  table { border-collapse:collapse; width:100%; margin-top:6px; }
  th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
  th { font-size:12px; color:var(--muted); font-weight:600; }
  .pill { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; background:#eef2ff; }
  .state-gated, .state-half-open { background:#fef3c7; color:var(--warn); }
  .state-failed, .state-open { background:#fee2e2; color:var(--bad); }
  .state-completed, .state-closed { background:#dcfce7; color:var(--ok); }
  .pipeline { border-top:1px solid var(--line); padding-top:10px; margin-top:10px; }
  .pipeline:first-of-type { border-top:0; margin-top:0; padding-top:0; }
  .pipeline h3 { margin:0; font-size:15px; }
  svg .node rect { fill:#eff6ff; stroke:var(--accent); rx:6; }
  svg .node.gpu rect { fill:#f5f3ff; stroke:#7c3aed; }
  svg .node.gate rect { fill:#fffbeb; stroke:var(--warn); }
  svg .node text { font-size:12px; fill:var(--fg); }
  svg .edge { stroke:#9ca3af; fill:none; marker-end:url(#arrow); }
  pre { white-space:pre-wrap; max-height:160px; overflow:auto; background:var(--bg); padding:6px;
        margin:4px 0 0; font-size:12px; }
  .unavailable { color:var(--muted); font-style:italic; }
  a { color:var(--accent); }
  table.compact { width:auto; margin:0; font-size:12px; }
  table.compact td, table.compact th { padding:1px 8px; }
  td.num { text-align:right; font-variant-numeric:tabular-nums; }
  .delta-up { color:var(--ok); } .delta-down { color:var(--bad); }
  .state-champion { background:#dcfce7; color:var(--ok); } .state-challenger { background:#fef3c7; color:var(--warn); }
  .state-rejected { background:#fee2e2; color:var(--bad); }
  .plots { display:flex; flex-wrap:wrap; gap:10px; margin-top:8px; }
  .plots figure { margin:0; border:1px solid var(--line); border-radius:6px; padding:4px; background:#fff; }
  .plots img { max-width:420px; height:auto; display:block; }
  .plots figcaption { font-size:12px; color:var(--muted); }
</style>
</head>
<body data-ready="false">
<header><h1>Pipelines</h1><span class="muted" id="generated"></span></header>
<main>
  <section id="ledger"><h2>Job ledger</h2><div class="body">Loading...</div></section>
  <section id="pipelines"><h2>Pipeline specs</h2><div class="body">Loading...</div></section>
  <section id="breakers"><h2>Circuit breakers</h2><div class="body">Loading...</div></section>
  <section id="models"><h2>Models: champion and challenger</h2><div class="body">Loading...</div></section>
  <section id="promotions"><h2>Latest promotions: candidate and champion on the same rows</h2>
    <div class="body">Loading...</div></section>
  <section id="runs"><h2>Latest runs: why they skipped, waited or decided</h2>
    <div class="body">Loading...</div></section>
  <section id="reports"><h2>Latest run reports</h2><div class="body">Loading...</div></section>
  <section id="graphrag"><h2>Ask the graph</h2>
    <form id="graphrag-form"><input id="graphrag-q" name="q" type="search" size="60" maxlength="500"
      placeholder="e.g. TP53 mutation in tumour growth" required>
      <select id="graphrag-mode" name="mode"><option value="hybrid">hybrid</option>
        <option value="vector">vector only</option></select>
      <button type="submit">Search</button></form>
    <div class="body"></div></section>
</main>
<script>
"use strict";
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
function table(columns, rows, id) {
  const head = el("tr", {}, columns.map(c => el("th", {}, c[0])));
  const body = rows.map(r => el("tr", {"data-key": r.job_id || r.name || r.path || null},
                                columns.map(c => el("td", {}, c[1](r)))));
  return el("table", {id: id}, el("thead", {}, head), el("tbody", {}, body));
}
function pill(text) { return el("span", {class: "pill state-" + String(text).replace(/[^a-z-]/g, "-")}, text); }
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(seconds), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600),
        m = Math.floor(s % 3600 / 60);
  return d ? d + "d " + h + "h" : h ? h + "h " + m + "m" : m ? m + "m " + (s % 60) + "s" : s + "s";
}
function when(iso) { return iso ? new Date(iso).toLocaleString() : ""; }
function fill(id, content) {
  const body = document.querySelector("#" + id + " .body");
  body.replaceChildren(...[content].flat(Infinity));
}
function unavailable(data) { return el("p", {class: "unavailable"}, "Not available: " + (data.reason || "unknown")); }

function renderLedger(data) {
  if (!data.available) return fill("ledger", unavailable(data));
  const counts = el("div", {class: "cards", id: "ledger-counts"},
    el("div", {class: "card"}, el("b", {}, data.total), "jobs"),
    Object.entries(data.counts).map(([state, n]) => el("div", {class: "card", "data-state": state},
                                                           el("b", {}, n), state)));
  const gated = data.gated.length ? table([
      ["Job", r => r.job_id], ["Pipeline", r => r.pipeline], ["Stage", r => r.stage || ""],
      ["Waiting", r => duration(r.waited_seconds)], ["Since", r => when(r.gated_since)],
      ["PDF ready", r => r.pdf_ir_ready ? "yes" : "no"], ["Run", r => r.dag_run_id || ""]],
      data.gated, "ledger-gated") : el("p", {class: "muted"}, "No job is waiting at a gate.");
  const failed = data.failed.length ? table([
      ["Job", r => r.job_id], ["Pipeline", r => r.pipeline], ["Stage", r => r.stage || ""],
      ["Attempts", r => r.attempts], ["Error", r => el("pre", {}, r.error || "")], ["When", r => when(r.updated_at)]],
      data.failed, "ledger-failed") : el("p", {class: "muted"}, "No failed job.");
  fill("ledger", [counts, el("h3", {}, "Gated jobs"), gated, el("h3", {}, "Failed jobs"), failed]);
}

function graph(stages) {
  const depth = {}, byName = Object.fromEntries(stages.map(s => [s.name, s]));
  const level = name => depth[name] !== undefined ? depth[name] :
    (depth[name] = Math.max(-1, ...byName[name].upstream.filter(u => byName[u]).map(level)) + 1);
  stages.forEach(s => level(s.name));
  const columns = {};
  stages.forEach(s => (columns[depth[s.name]] = columns[depth[s.name]] || []).push(s.name));
  const W = 170, H = 34, GX = 50, GY = 14, pos = {};
  Object.entries(columns).forEach(([d, names]) => names.forEach((n, i) => pos[n] = [d * (W + GX), i * (H + GY)]));
  const width = Object.keys(columns).length * (W + GX);
  const height = Math.max(...Object.values(columns).map(c => c.length)) * (H + GY);
  const ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", width); svg.setAttribute("height", height);
  const defs = document.createElementNS(ns, "defs"), marker = document.createElementNS(ns, "marker");
  Object.entries({id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "6", markerHeight: "6",
                  orient: "auto"}).forEach(([k, v]) => marker.setAttribute(k, v));
  const tip = document.createElementNS(ns, "path"); tip.setAttribute("d", "M0,0 L10,5 L0,10 z");
  tip.setAttribute("fill", "#9ca3af"); marker.append(tip); defs.append(marker); svg.append(defs);
  stages.forEach(s => s.upstream.filter(u => pos[u]).forEach(u => {
    const [x1, y1] = pos[u], [x2, y2] = pos[s.name], path = document.createElementNS(ns, "path");
    path.setAttribute("class", "edge");
    const [ya, yb] = [y1 + H / 2, y2 + H / 2];
    path.setAttribute("d", `M${x1 + W},${ya} C${x1 + W + GX / 2},${ya} ${x2 - GX / 2},${yb} ${x2},${yb}`);
    svg.append(path);
  }));
  stages.forEach(s => {
    const [x, y] = pos[s.name], g = document.createElementNS(ns, "g");
    g.setAttribute("class", "node " + (s.compute === "gpu" ? "gpu " : "") + (s.condition ? "gate" : ""));
    g.setAttribute("transform", `translate(${x},${y})`);
    const rect = document.createElementNS(ns, "rect"); rect.setAttribute("width", W); rect.setAttribute("height", H);
    const text = document.createElementNS(ns, "text"); text.setAttribute("x", 8); text.setAttribute("y", 21);
    text.textContent = s.name.length > 22 ? s.name.slice(0, 21) + "..." : s.name;
    const title = document.createElementNS(ns, "title"); title.textContent = s.name + " (" + s.type + ")";
    g.append(rect, text, title); svg.append(g);
  });
  return el("div", {style: "overflow-x:auto; margin:8px 0"}, svg);
}

function renderPipelines(data) {
  if (!data.available) return fill("pipelines", unavailable(data));
  const blocks = data.pipelines.map(p => el("div", {class: "pipeline", "data-pipeline": p.name},
    el("h3", {}, p.name, " ",
       el("span", {class: "muted"}, p.schedule ? "schedule " + JSON.stringify(p.schedule) : "manual")),
    el("div", {class: "muted"}, p.description, " (", p.file, ")"),
    p.build_error ? el("p", {class: "unavailable build-error"}, "No DAG: " + p.build_error) : null,
    graph(p.stages),
    table([["Stage", s => s.name], ["Type", s => s.type], ["Compute", s => s.compute],
           ["Upstream", s => s.upstream.join(", ")], ["Operator", s => s.operator || ""],
           ["Policy", s => s.policy], ["Retries", s => s.retries ?? ""],
           ["Timeout", s => duration(s.timeout_seconds)], ["Pool", s => s.pool || ""]], p.stages),
    table([["Policy", ([n]) => n], ["Attempts", ([, v]) => v.max_attempts],
           ["Backoff", ([, v]) => v.backoff_strategy + " " + v.backoff_initial_seconds + "s..." +
                                  v.backoff_max_seconds + "s"],
           ["Timeout", ([, v]) => duration(v.timeout_seconds)],
           ["Breaker", ([, v]) => v.circuit_breaker ? v.circuit_breaker.failure_threshold + " failures / " +
                                  v.circuit_breaker.reset_timeout_seconds + "s" : "none"],
           ["Rate limit", ([, v]) => v.rate_limit_per_second ? v.rate_limit_per_second + "/s" : ""]],
          Object.entries(p.policies))));
  const problems = data.problems.length ? [el("h3", {}, "Broken specs"),
    table([["File", r => r.file + ":" + r.line + ":" + r.column], ["Field", r => r.path], ["Problem", r => r.message]],
          data.problems, "spec-problems")] : [];
  fill("pipelines", [el("p", {class: "muted"}, "Runtime profile: " + data.runtime_profile), ...problems,
                     blocks.length ? blocks : el("p", {}, "No pipeline spec.")]);
}

function renderBreakers(data) {
  if (!data.available) return fill("breakers", unavailable(data));
  fill("breakers", data.breakers.length ? table([["Breaker", r => r.name], ["State", r => pill(r.state)],
      ["Failures", r => r.fail_counter], ["Opened", r => when(r.opened_at)]], data.breakers, "breakers-table")
    : el("p", {class: "muted"}, "No circuit breaker has been used yet (store: " + data.store + ")."));
}

const number = x => x === null || x === undefined ? "-" : Number(x).toFixed(4);
// Green when the candidate is better: for error metrics (rmse) that is a negative delta.
const better = r => r.delta === null || r.delta === undefined ? 0
  : /rmse|error|loss/.test(r.metric) ? -r.delta : r.delta;
function compareTable(rows, id) {
  return el("table", {class: "compact", id: id},
    el("thead", {}, el("tr", {}, ["metric", "candidate", "champion", "delta"].map(h => el("th", {}, h)))),
    el("tbody", {}, rows.map(r => el("tr", {"data-metric": r.metric}, el("td", {}, r.metric),
      el("td", {class: "num"}, number(r.candidate)), el("td", {class: "num"}, number(r.champion)),
      el("td", {class: "num " + (better(r) > 0 ? "delta-up" : better(r) < 0 ? "delta-down" : "")},
         r.delta === null || r.delta === undefined ? "-" : (r.delta > 0 ? "+" : "") + number(r.delta))))));
}
let promotionsPromise = null;
function promotions() {
  promotionsPromise = promotionsPromise || fetch("api/promotions", {credentials: "same-origin",
      headers: {Accept: "application/json"}}).then(r => r.ok ? r.json() : {promotions: []})
    .catch(() => ({promotions: []}));
  return promotionsPromise;
}

async function renderModels(data) {
  if (!data.available) return fill("models", unavailable(data));
  if (!data.models.length) return fill("models", el("p", {class: "muted"}, data.reason || "No registered model yet."));
  const latest = Object.fromEntries(((await promotions()).promotions || []).map(p => [p.pipeline, p]));
  const version = v => v ? el("div", {}, el("a", {href: v.link, target: "_blank"}, "v" + v.version), " ",
      v.run_link ? el("a", {href: v.run_link, target: "_blank"}, "run") : null)
    : el("span", {class: "muted"}, "none");
  const sameRows = r => {
    const promo = latest[r.pipeline], rows = promo && promo.models[r.model.slice(r.pipeline.length + 1)];
    return rows && rows.length ? compareTable(rows) : el("span", {class: "muted"}, "no comparison yet");
  };
  fill("models", table([["Pipeline", r => r.pipeline],
                        ["Model", r => el("a", {href: r.link, target: "_blank"}, r.model)],
                        ["Champion", r => version(r.champion)], ["Challenger", r => version(r.challenger)],
                        ["Latest promotion, same rows", sameRows]],
                       data.models, "models-table"));
}

function renderPromotions(data) {
  if (!data.available) return fill("promotions", unavailable(data));
  if (!data.promotions.length) return fill("promotions", el("p", {class: "muted"}, "No promotion yet."));
  fill("promotions", data.promotions.map(p => el("div", {class: "pipeline", "data-promotion": p.pipeline},
    el("h3", {}, p.pipeline, " ", pill(p.decision), " ",
       el("span", {class: "muted"}, "run " + p.run_id + (p.run_url ? " " : "")),
       p.run_url ? el("a", {href: p.run_url, target: "_blank"}, "MLflow run") : null),
    el("div", {}, p.reason),
    p.approval ? el("div", {}, "Approval: " + p.approval) : null,
    el("div", {class: "muted"}, p.rows ? "Compared on the same " + p.rows + " held-out rows (fingerprint " +
       p.rows_fingerprint + ") with champion v" + p.compared_to_version + "; margin " + number(p.margin)
       : "No champion scored on these rows (" + (p.baseline || "none") + ")."),
    p.headline.length ? compareTable(p.headline, "promotion-headline-" + p.pipeline) : null,
    el("div", {class: "plots"}, p.plots.map(plot => el("figure", {},
      el("img", {src: plot.url, alt: plot.title, loading: "lazy", "data-plot": plot.name}),
      el("figcaption", {}, plot.title)))))));
}

function renderReports(data) {
  if (!data.available) return fill("reports", unavailable(data));
  fill("reports", data.reports.length ? table([
      ["Report", r => el("a", {href: "api/reports/file?path=" + encodeURIComponent(r.path), target: "_blank"}, r.path)],
      ["Modified", r => when(r.modified)], ["Size", r => r.size + " B"],
      ["Preview", r => r.preview ? el("pre", {}, r.preview) : ""]], data.reports, "reports-table")
    : el("p", {class: "muted"}, "No report yet in " + data.folder + "."));
}

function renderRuns(data) {
  if (!data.available) return fill("runs", unavailable(data));
  const links = data.monitoring.length ? el("p", {id: "monitoring-links"}, "Monitoring: ",
    data.monitoring.map((m, i) => [i ? " | " : "", el("a", {href: m.href, target: "_blank", "data-page": m.name},
                                                       m.label)]))
    : el("p", {class: "muted"}, "No monitoring configured (PIPELINE_PROMETHEUS_URL, PIPELINE_ALERTMANAGER_URL).");
  const notes = r => [r.note ? el("pre", {class: "run-note"}, r.note) : "",
    Object.entries(r.task_notes).map(([task, note]) => el("div", {class: "task-note", "data-task": task},
                                                          el("b", {}, task + ": "), note))];
  fill("runs", [links, data.runs.length ? table([
      ["Pipeline", r => r.pipeline], ["Run", r => r.run_id], ["State", r => pill(r.state)],
      ["Ended", r => when(r.ended)], ["Why", notes]], data.runs, "runs-table")
    : el("p", {class: "muted"}, "No run yet.")]);
}

async function load(name, render) {
  try {
    const response = await fetch("api/" + name, {credentials: "same-origin", headers: {Accept: "application/json"}});
    if (!response.ok) throw new Error("HTTP " + response.status);
    await render(await response.json());
  } catch (err) {
    fill(name, el("p", {class: "unavailable"}, "Could not load: " + err.message));
  }
}

function why(r) {
  const w = r.reasons || {}, parts = [];
  if (w.vector_score !== undefined) parts.push("vector " + w.vector_score.toFixed(3) + " (#" + w.vector_rank + ")");
  if (w.graph_rank !== undefined) parts.push("graph #" + w.graph_rank);
  if (w.matches_question) parts.push("names " + w.matches_question.join(", "));
  if (w.shared_genes) parts.push("genes " + w.shared_genes.slice(0, 3).join(", "));
  if (w.shared_mesh) parts.push("MeSH " + w.shared_mesh.slice(0, 3).join(", "));
  return parts.join("; ");
}

function renderSearch(data) {
  if (!data.available) return fill("graphrag", unavailable(data));
  fill("graphrag", data.results.length ? table([
      ["#", r => r.rank], ["PMID", r => el("a", {href: r.link, target: "_blank"}, r.pmid)],
      ["Year", r => r.year || ""], ["Title", r => r.title || ""], ["Why", r => why(r)]], data.results, "graphrag-table")
    : el("p", {class: "muted"}, "No papers: are the GraphRAG stores filled?"));
}

document.getElementById("graphrag-form").addEventListener("submit", event => {
  event.preventDefault();
  const q = document.getElementById("graphrag-q").value, mode = document.getElementById("graphrag-mode").value;
  fill("graphrag", el("p", {class: "muted"}, "Searching..."));
  const url = "api/graphrag/search?k=10&mode=" + encodeURIComponent(mode) + "&q=" + encodeURIComponent(q);
  fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
    .then(response => { if (!response.ok) throw new Error("HTTP " + response.status); return response.json(); })
    .then(renderSearch)
    .catch(err => fill("graphrag", el("p", {class: "unavailable"}, "Could not search: " + err.message)));
});

Promise.all([load("ledger", renderLedger), load("pipelines", renderPipelines), load("breakers", renderBreakers),
             load("models", renderModels), load("promotions", renderPromotions), load("runs", renderRuns),
             load("reports", renderReports)])
  .finally(() => {
    document.getElementById("generated").textContent = "as of " + new Date().toLocaleString();
    document.body.setAttribute("data-ready", "true");
  });
</script>
</body>
</html>
"""
