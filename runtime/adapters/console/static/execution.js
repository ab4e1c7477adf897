/* One execution: code, limits, cost, result, stdout, calls; updated until it ends; cancel. */
"use strict";
(function () {
  const T = window.Terrarium, $ = (id) => document.getElementById(id);
  const id = document.querySelector("[data-execution-id]").dataset.executionId;
  let editor = null;

  function facts(d) {
    const l = d.limits || {};
    const rows = [["Tenant", T.esc(d.tenant || "")], ["Mode", T.esc(d.mode)], ["Created", T.when(d.created_at)], ["Finished", T.when(d.finished_at)],
      ["Wall time", T.ms(d.duration_ms)], ["CPU time", T.ms(d.cpu_ms)], ["Client calls", d.call_count ?? (d.calls || []).length],
      ["Limits", `timeout ${l.timeout_s ?? "–"} s · CPU ${l.cpu_s ?? "–"} s · ${l.memory_mb ?? "–"} MB · ${l.max_calls ?? "–"} calls`],
      ["Code sha256", `<code>${T.esc((d.code_sha256 || "").slice(0, 16))}…</code>`]];
    if (d.intent) rows.splice(1, 0, ["Intent", T.esc(d.intent)]);
    return `<dl class="facts">${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>`;
  }
  async function load() {
    let d;
    try { d = await T.api("/executions/" + encodeURIComponent(id)); }
    catch (e) { $("detail").innerHTML = `<div class="error-box" role="alert">${T.esc(e.message)}</div>`; return; }
    const done = d.state === "done" || d.state === "failed";
    $("detail-status").innerHTML = T.badge(d.state, d.status);
    $("cancel").hidden = done || d.mode !== "async";
    if (!editor) {
      $("detail").innerHTML = `<section class="card"><h2>Code</h2><div id="code" class="editor" style="margin-top:10px"></div><h2 style="margin-top:14px">Cost and limits</h2><div id="facts" style="margin-top:8px"></div></section>
        <section class="card"><div id="body" class="output"></div></section>`;
      editor = new T.Editor($("code"), { value: d.code || "", readOnly: true, label: "Code of " + id });
    }
    $("facts").innerHTML = facts(d);
    if (d.error && d.error.line) editor.setMarks({ [d.error.line]: "bad" });
    $("body").innerHTML = done ? T.resultHtml(d) : `<p class="empty">${T.badge(d.state)} Waiting for it to finish; this page updates by itself.</p>`;
    if (done) T.fillMedia($("body"), d.result);
    if (!done) setTimeout(load, 700);
  }
  $("cancel").addEventListener("click", async () => {
    $("cancel").disabled = true;
    try { await T.api(`/executions/${encodeURIComponent(id)}/cancel`, { method: "POST" }); T.toast("Cancelled"); }
    catch (e) { T.toast(e.message); }
    $("cancel").disabled = false; load();
  });
  document.addEventListener("click", (e) => { const t = e.target.closest("[data-line]"); if (t && editor) { e.preventDefault(); editor.goto(Number(t.dataset.line)); } });
  load();
})();
