/* The executions list: filters in the URL, newest first, refreshed every 2 s while live. */
"use strict";
(function () {
  const T = window.Terrarium, $ = (id) => document.getElementById(id);
  const op = window.CONSOLE_OPERATOR, form = $("filters"), body = $("executions-body");
  let cursor = null, timer = null, rows = [];
  const params = new URLSearchParams(location.search);
  for (const el of form.elements) if (el.name && params.get(el.name)) el.value = params.get(el.name);

  function query(extra) {
    const q = new URLSearchParams();
    for (const el of form.elements) if (el.name && el.value) q.set(el.name, el.value);
    if (extra) q.set("cursor", extra);
    return q;
  }
  function row(e) {
    const link = `/console/executions/${encodeURIComponent(e.execution_id)}`;
    return `<tr data-id="${T.esc(e.execution_id)}" data-state="${T.esc(e.state)}"><td><a href="${link}"><code>${T.esc(e.execution_id)}</code></a>${e.intent ? `<div class="muted">${T.esc(e.intent)}</div>` : ""}</td>
      <td>${T.badge(e.state, e.status)}</td>${op ? `<td>${T.esc(e.tenant)}</td>` : ""}<td>${T.esc(e.mode)}</td>
      <td class="num">${e.call_count ?? 0}</td><td class="num">${e.state === "done" ? T.ms(e.duration_ms) : "–"}</td><td>${T.when(e.created_at)}</td></tr>`;
  }
  function render() {
    body.innerHTML = rows.length ? rows.map(row).join("") : `<tr><td colspan="7" class="empty">No executions match. Run one in the <a href="/console/playground">playground</a>.</td></tr>`;
  }
  async function load() {
    const q = query();
    history.replaceState(null, "", "?" + q.toString());
    try {
      const page = await T.api("/executions?" + q.toString());
      rows = page.data; cursor = page.next_cursor; render();
      $("more").hidden = !cursor;
      $("list-status").textContent = `${rows.length} shown · updated ${new Date().toLocaleTimeString()}`;
    } catch (e) { $("list-status").textContent = e.message; }
  }
  $("more").addEventListener("click", async () => {
    const page = await T.api("/executions?" + query(cursor).toString());
    rows = rows.concat(page.data); cursor = page.next_cursor; render(); $("more").hidden = !cursor;
  });
  form.addEventListener("change", load);
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  function live() {
    clearInterval(timer);
    if ($("f-live").checked) timer = setInterval(() => { if (!document.hidden) load(); }, 2000);
  }
  $("f-live").addEventListener("change", live);
  if (op) T.api("/operators/tenants").then((r) => { $("tenant-names").innerHTML = r.tenants.filter((t) => !t.revoked).map((t) => `<option value="${T.esc(t.name)}">`).join(""); }).catch(() => {});
  load(); live();
})();
