// Worksheet: Ctrl+Enter runs; downloads POST the SQL with the CSRF header and save the answer.
(function () {
  "use strict";
  const form = document.getElementById("worksheet"), sql = document.getElementById("sql");
  const csrf = document.querySelector("meta[name=csrf]").content;
  sql.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); htmx.trigger(form, "submit"); } });
  document.querySelectorAll("button.download").forEach((button) => button.addEventListener("click", async () => {
    const format = button.dataset.format;
    const r = await fetch("/worksheet/download." + format, { method: "POST", credentials: "same-origin",
      headers: { "X-Headwater-CSRF": csrf, "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ sql: sql.value }) });
    if (!r.ok) { document.getElementById("result").textContent = await r.text(); return; }
    const link = document.createElement("a"); link.href = URL.createObjectURL(await r.blob()); link.download = "result." + format;
    document.body.append(link); link.click(); link.remove();
  }));
})();
