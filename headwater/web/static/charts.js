// Charts of the job page (uPlot), drawn from the JSON the page (and each refresh) carries.
(function () {
  "use strict";
  const PALETTE = ["#1f6feb", "#cf222e", "#2da44e", "#8250df", "#d4a72c", "#bc4c00", "#0a7d39", "#57606a"];
  function draw() {
    const holder = document.querySelector("#job-live script.series");
    if (!holder) return;
    const s = JSON.parse(holder.textContent);
    document.querySelectorAll("#job-live .chart").forEach((el) => {
      const key = el.dataset.series, width = Math.max(el.clientWidth, 300);
      let x, ys, names;
      if (key === "passed" || key === "violations") { x = s.expectations.x; names = s.expectations.names; ys = names.map((n) => s.expectations[key][n]); }
      else { x = s.x; names = [key === "rows_per_s" ? "rows/s" : "lag (s)"]; ys = [s[key]]; }
      el.innerHTML = "";
      const why = !names.length ? "this job has no expectations" : !x.length ? "no runs yet"
        : ys.every((y) => y.every((v) => v == null)) ? "no windowed runs (an ingestion job's lag is shown above)" : null;
      if (why) { const p = document.createElement("div"); p.className = "empty"; p.textContent = why; el.append(p); return; }
      const series = [{}, ...names.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 1.5, points: { show: x.length < 60 } }))];
      new uPlot({ width: width, height: 170, series: series, axes: [{}, { size: 60 }], legend: { show: true, live: false } }, [x, ...ys], el);
    });
  }
  document.addEventListener("htmx:afterSwap", (ev) => { if (ev.target.id === "job-live") draw(); });
  window.addEventListener("load", draw);
})();
