// The pipeline graph (cytoscape + dagre, left to right) and the list beside it; refreshed every 3 s.
(function () {
  "use strict";
  const COLORS = { running: "#2da44e", idle: "#57606a", lagging: "#d4a72c", paused: "#8250df", failed: "#cf222e", new: "#afb8c1" };
  const LARGE = 150; // above this many nodes: no edge labels, lighter rendering while panning
  const LAYOUT = { name: "dagre", rankDir: "LR", nodeSep: 12, rankSep: 34, animate: false };
  const READABLE = 0.75; // a small graph never opens zoomed out beyond this: pan to see the rest
  let cy = null, shape = "", data = null;
  const $ = (id) => document.getElementById(id);

  function fmtLag(s) { return s == null ? "" : s < 90 ? s.toFixed(0) + "s" : s < 5400 ? (s / 60).toFixed(0) + "m" : (s / 3600).toFixed(1) + "h"; }
  function isJob(n) { return n.status !== undefined; }
  function href(n) { return n.kind === "table" || n.kind === "view" ? "/tables/" + encodeURIComponent(n.name) : n.kind === "connection" ? null : "/jobs/" + encodeURIComponent(n.name); }
  function label(n) {
    const name = n.kind === "view" || n.kind === "table" ? n.name : n.name;
    const rate = n.rows_per_s ? " · " + (n.rows_per_s >= 100 ? Math.round(n.rows_per_s) : n.rows_per_s.toFixed(1)) + "/s" : "";
    const extra = isJob(n) ? "\n" + n.status + rate + (n.lag_seconds ? " · lag " + fmtLag(n.lag_seconds) : "") : n.kind === "connection" ? "\n" + n.detail + " connection" : "";
    return name + extra;
  }
  function elements(g) {
    return [
      ...g.nodes.map((n) => ({ group: "nodes", data: { ...n, label: label(n), color: COLORS[n.status] || "#fff" } })),
      ...g.edges.map((e) => ({ group: "edges", data: { ...e, label: e.label || "" } })),
    ];
  }
  function build(g) {
    const large = g.nodes.length > LARGE;
    cy = cytoscape({
      container: $("graph"), elements: elements(g), wheelSensitivity: 0.3, minZoom: 0.05, maxZoom: 3,
      textureOnViewport: large, hideEdgesOnViewport: large, pixelRatio: large ? 1 : "auto",
      style: [
        { selector: "node", style: { label: "data(label)", "text-wrap": "wrap", "text-valign": "center", "font-size": 12, "min-zoomed-font-size": large ? 5 : 0,
            width: 150, height: 42, shape: "round-rectangle", "background-color": "#fff", "border-width": 1.5, "border-color": "#9aa6b7", color: "#1d2430" } },
        { selector: "node[kind='connection']", style: { shape: "cut-rectangle", "background-color": "#e8eef7" } },
        { selector: "node[kind='table']", style: { shape: "barrel", "background-color": "#f4f6fa" } },
        { selector: "node[kind='ingest'], node[kind='transform']", style: { "background-color": "data(color)", color: "#fff", "border-width": 0, shape: "round-rectangle" } },
        { selector: "node[kind='view']", style: { shape: "barrel", "border-width": 4, "border-color": "data(color)" } },
        { selector: "edge", style: { width: 1.5, "line-color": "#b7c0cd", "target-arrow-color": "#b7c0cd", "target-arrow-shape": "triangle", "curve-style": "bezier",
 } },
        { selector: ".faded", style: { opacity: 0.15 } },
        { selector: ".hidden", style: { display: "none" } },
        { selector: "node:selected", style: { "border-width": 3, "border-color": "#1f6feb" } },
      ],
      layout: LAYOUT,
    });
    if (!large && cy.zoom() < READABLE) { cy.zoom(READABLE); cy.pan({ x: 20, y: cy.height() / 2 - READABLE * (cy.nodes().boundingBox().y1 + cy.nodes().boundingBox().h / 2) }); }
    cy.on("tap", "node", (ev) => select(ev.target));
    cy.on("tap", (ev) => { if (ev.target === cy) { cy.elements().removeClass("faded"); $("selected").textContent = "Click a node: its upstream and downstream are highlighted; double-click opens it."; } });
    cy.on("dbltap", "node", (ev) => { const h = href(ev.target.data()); if (h) location.href = h; });
  }
  function select(node) {
    const keep = node.predecessors().union(node.successors()).union(node);
    cy.elements().addClass("faded"); keep.removeClass("faded");
    const n = node.data(), h = href(n), box = $("selected");
    box.classList.remove("dim"); box.innerHTML = "";
    const title = document.createElement(h ? "a" : "strong"); title.textContent = n.name; if (h) title.href = h;
    box.append(title, document.createTextNode(" " + n.kind + (isJob(n) ? " · " + n.status : "") + " · " + node.predecessors("node").length + " upstream, " + node.successors("node").length + " downstream"));
    if (n.error) { const p = document.createElement("pre"); p.className = "err"; p.textContent = n.error; box.append(p); }
  }
  // A name filter shows the matching nodes and their neighbours (what they read and write);
  // a layer filter shows that layer's nodes. What is shown is laid out again on its own.
  let filtered = false;
  function applyFilter() {
    if (!cy) return;
    const text = $("filter").value.trim().toLowerCase(), layer = $("layer").value;
    const matches = cy.nodes().filter((n) => (!text || n.data("name").toLowerCase().includes(text)) && (!layer || n.data("layer") === layer));
    const shown = text ? matches.union(matches.neighborhood("node").filter((n) => !layer || n.data("layer") === layer)) : matches;
    cy.batch(() => { cy.nodes().addClass("hidden"); shown.removeClass("hidden"); });
    $("graph-count").textContent = (text || layer ? matches.length + " match · " : "") + shown.length + " of " + cy.nodes().length + " nodes";
    if (text || layer) { shown.union(shown.edgesWith(shown)).layout(LAYOUT).run(); filtered = true; }
    else if (filtered) { cy.layout(LAYOUT).run(); filtered = false; }
    if (shown.length && (text || layer)) cy.fit(shown, 30);
    document.querySelectorAll("#jobs tbody tr").forEach((tr) => {
      tr.hidden = !((!text || tr.dataset.name.toLowerCase().includes(text)) && (!layer || tr.dataset.layer === layer));
    });
  }
  function renderList(g) {
    const body = document.querySelector("#jobs tbody"); body.innerHTML = "";
    g.nodes.filter(isJob).sort((a, b) => a.name.localeCompare(b.name)).forEach((n) => {
      const tr = document.createElement("tr"); tr.dataset.name = n.name; tr.dataset.layer = n.layer; tr.dataset.status = n.status;
      const cells = [n.name, n.layer, null, n.rows_per_s ? String(n.rows_per_s) : "", fmtLag(n.lag_seconds)];
      cells.forEach((c, i) => {
        const td = document.createElement("td");
        if (i === 2) { const b = document.createElement("span"); b.className = "badge " + n.status; b.textContent = n.status; td.append(b); } else td.textContent = c;
        tr.append(td);
      });
      tr.addEventListener("click", () => { location.href = href(n); });
      body.append(tr);
    });
  }
  function renderLayers(g) {
    const sel = $("layer"), have = new Set([...sel.options].map((o) => o.value));
    [...new Set(g.nodes.map((n) => n.layer))].sort().forEach((l) => { if (!have.has(l)) { const o = document.createElement("option"); o.value = o.textContent = l; sel.append(o); } });
  }
  async function refresh() {
    let g;
    try {
      const r = await fetch("/api/graph", { credentials: "same-origin" });
      g = r.headers.get("content-type", "").startsWith("application/json") ? await r.json() : { error: r.status + ": " + (await r.text()) };
      if (!r.ok) { $("graph-error").innerHTML = ""; const d = document.createElement("div"); d.className = "error"; d.textContent = g.error + (g.hint ? " — " + g.hint : ""); $("graph-error").append(d); return; }
    } catch (e) { $("live").textContent = "offline"; return; }
    $("live").textContent = "live"; $("graph-error").innerHTML = "";
    data = g;
    const key = g.nodes.map((n) => n.id).join("|") + "#" + g.edges.length;
    if (key !== shape) { shape = key; if (cy) cy.destroy(); build(g); renderLayers(g); }
    else cy.batch(() => { g.nodes.forEach((n) => { const el = cy.getElementById(n.id); el.data({ ...n, label: label(n), color: COLORS[n.status] || "#fff" }); });
                          g.edges.forEach((e) => cy.getElementById(e.id).data("label", e.label || "")); });
    renderList(g); applyFilter();
    document.body.dataset.graphLoaded = String(g.nodes.length);
  }
  $("filter").addEventListener("input", applyFilter);
  $("layer").addEventListener("change", applyFilter);
  refresh(); setInterval(refresh, 3000);
  window.headwaterGraph = () => ({ cy, data });
})();
