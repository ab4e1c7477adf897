/* Operators: tenants and keys (create, another key, revoke), pool and isolation health, and a
   small live view of the last 30 minutes. */
"use strict";
(function () {
  const T = window.Terrarium, $ = (id) => document.getElementById(id);
  const COLORS = { ok: "#0f6b45", error: "#b42318", rejected: "#d97706", timeout: "#7c3aed", limit_exceeded: "#be185d", failed: "#6b7280", running: "#1d4ed8", queued: "#60a5fa" };
  let tenants = [];

  function limits(l) {
    const parts = [`${l.max_concurrent} at once`, `${l.per_minute}/min`];
    if (l.max_timeout_s) parts.push(`≤ ${l.max_timeout_s} s`);
    if (l.max_memory_mb) parts.push(`≤ ${l.max_memory_mb} MB`);
    if (l.max_calls) parts.push(`≤ ${l.max_calls} calls`);
    return parts.join(" · ");
  }
  function renderTenants() {
    const all = $("show-revoked").checked;
    const list = tenants.filter((t) => all || !t.revoked);
    $("tenants-body").innerHTML = list.map((t) => `<tr><td><strong>${T.esc(t.name)}</strong> <div class="muted"><code>${T.esc(t.id)}</code>${t.revoked ? ' <span class="tag warn">revoked</span>' : ""}${t.name === "default" ? ' <span class="tag">operator</span>' : ""}</div></td>
      <td>${T.esc(t.flora)}</td><td>${t.workspaces.map((w) => `<code>${T.esc(w)}</code>`).join("<br>") || '<span class="muted">any</span>'}</td>
      <td>${limits(t.limits)}</td><td>${T.when(t.created_at)}</td>
      <td>${t.revoked || t.name === "default" ? "" : `<button type="button" data-key="${T.esc(t.name)}">New key</button> <button type="button" class="danger" data-revoke="${T.esc(t.name)}">Revoke</button>`}</td></tr>`).join("");
  }
  async function loadTenants() { tenants = (await T.api("/operators/tenants")).tenants; renderTenants(); }
  $("show-revoked").addEventListener("change", renderTenants);

  function showKey(r) {
    $("new-key-tenant").textContent = r.tenant.name; $("new-key-value").textContent = r.runtime_key;
    $("new-key").hidden = false; $("new-key").focus();
  }
  $("copy-key").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText($("new-key-value").textContent); T.toast("Copied"); }
    catch (e) { const r = document.createRange(); r.selectNodeContents($("new-key-value")); getSelection().removeAllRanges(); getSelection().addRange(r); T.toast("Selected: press Ctrl+C"); }
  });
  $("dismiss-key").addEventListener("click", () => { $("new-key").hidden = true; $("new-key-value").textContent = ""; $("t-name").focus(); });
  $("t-flora").addEventListener("change", (e) => { $("t-key-field").hidden = e.target.value !== "upstream"; });

  $("tenant-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target, body = { name: f.name.value.trim(), flora: f.flora.value };
    if (body.flora === "upstream") body.flora_key = f.flora_key.value;
    for (const k of ["max_concurrent", "per_minute", "max_memory_mb", "max_calls"]) if (f[k].value) body[k] = parseInt(f[k].value, 10);
    if (f.max_timeout_s.value) body.max_timeout_s = Number(f.max_timeout_s.value);
    $("tenant-error").hidden = true;
    try {
      const r = await T.api("/operators/tenants", { method: "POST", body });
      f.reset(); $("t-key-field").hidden = true; showKey(r); await loadTenants();
    } catch (err) { $("tenant-error").textContent = err.message; $("tenant-error").hidden = false; }
  });
  $("tenants-body").addEventListener("click", async (e) => {
    const k = e.target.closest("[data-key]"), r = e.target.closest("[data-revoke]");
    try {
      if (k) showKey(await T.api(`/operators/tenants/${encodeURIComponent(k.dataset.key)}/keys`, { method: "POST" }));
      if (r && confirm(`Revoke ${r.dataset.revoke}? Its runtime keys stop working.`)) {
        await T.api(`/operators/tenants/${encodeURIComponent(r.dataset.revoke)}/revoke`, { method: "POST" });
        T.toast(`Revoked ${r.dataset.revoke}`); await loadTenants();
      }
    } catch (err) { T.toast(err.message); }
  });

  async function loadHealth() {
    const { health, ready } = await T.api("/operators/health");
    const p = health.pool || {}, layers = health.isolation || {};
    const held = Object.values(layers).filter((l) => l.active).length;
    $("health").innerHTML = `<div class="stats">
      <div class="stat"><div class="v">${T.badge(null, ready.ready ? "ok" : "failed")}</div><div class="l">ready (database ${T.esc(ready.database)}, pool ${T.esc(ready.pool)})</div></div>
      <div class="stat"><div class="v">${p.running ?? 0} / ${p.size_max ?? "–"}</div><div class="l">running / slots</div></div>
      <div class="stat"><div class="v">${p.warm ?? 0}</div><div class="l">warm children</div></div>
      <div class="stat"><div class="v">${p.waiting ?? 0} / ${p.queue_max ?? "–"}</div><div class="l">queued / queue max</div></div></div>
      <h3 style="margin:4px 0 8px">Isolation layers: ${held} of ${Object.keys(layers).length} held</h3>
      <ul class="layers">${Object.entries(layers).map(([name, l]) => `<li><span class="${l.active ? "held" : "not"}" aria-hidden="true">${l.active ? "✓" : "✗"}</span><span><strong>${T.esc(name)}</strong> <span class="sr-only">${l.active ? "held" : "not held"}</span><div class="detail-text">${T.esc(l.detail || "")}</div></span></li>`).join("")}</ul>
      <p class="muted" style="margin-bottom:0">Children started ${p.children_started ?? 0} · executions ${p.executions_completed ?? 0} · killed at a limit ${p.limit_kills ?? 0} · FLORA: ${T.esc(health.flora)}</p>`;
    $("health-updated").textContent = "updated " + new Date().toLocaleTimeString();
  }

  function chart(m) {
    const W = 600, H = 140, n = m.minutes.length, bw = W / n;
    const totals = m.minutes.map((_, i) => Object.values(m.per_minute).reduce((s, a) => s + a[i], 0));
    const max = Math.max(1, ...totals);
    let bars = "";
    m.minutes.forEach((iso, i) => {
      let y = H;
      for (const [status, counts] of Object.entries(m.per_minute)) {
        const h = (counts[i] / max) * (H - 14);
        if (!h) continue;
        y -= h;
        bars += `<rect x="${i * bw + 1}" y="${y}" width="${bw - 2}" height="${h}" fill="${COLORS[status] || "#888"}"><title>${new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}: ${counts[i]} ${status}</title></rect>`;
      }
    });
    const label = `Executions per minute over the last ${m.window_min} minutes; at most ${max} in a minute.`;
    return `<div class="chart"><svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="${label}"><line x1="0" y1="${H - 0.5}" x2="${W}" y2="${H - 0.5}" stroke="#d9dedb"/>${bars}<text x="4" y="11" font-size="10" fill="#5b6560">${max}/min</text></svg></div>
      <div class="legend">${Object.keys(m.per_minute).map((s) => `<span><i style="background:${COLORS[s] || "#888"}"></i>${T.esc(s)} ${m.per_minute[s].reduce((a, b) => a + b, 0)}</span>`).join("") || "<span>no executions yet</span>"}</div>`;
  }
  async function loadMetrics() {
    const m = await T.api("/operators/metrics");
    $("metrics").innerHTML = `<div class="stats">
      <div class="stat"><div class="v">${m.total}</div><div class="l">executions</div></div>
      <div class="stat"><div class="v">${T.ms(m.p50_ms)}</div><div class="l">p50 latency</div></div>
      <div class="stat"><div class="v">${T.ms(m.p99_ms)}</div><div class="l">p99 latency</div></div>
      <div class="stat"><div class="v">${m.cost.cpu_s.toFixed(2)} s</div><div class="l">CPU · ${m.cost.client_calls} client calls</div></div></div>${chart(m)}`;
    $("metrics-updated").textContent = "updated " + new Date().toLocaleTimeString();
  }
  const refresh = () => { if (!document.hidden) { loadHealth().catch(() => {}); loadMetrics().catch(() => {}); } };
  loadTenants().catch((e) => T.toast(e.message)); refresh(); setInterval(refresh, 3000);
})();
