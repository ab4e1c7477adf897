/* Terrarium console: helpers every page uses (fetch with the console's header, escaping, JSON
   trees, the result's media, the calls table, the error panel). No framework, no build. */
"use strict";
(function () {
  const T = (window.Terrarium = {});

  T.esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  T.api = async function (path, opts = {}) {
    const init = { method: opts.method || "GET", headers: { "x-terrarium-console": "1" }, credentials: "same-origin" };
    if (opts.body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(opts.body);
    }
    const res = await fetch("/console/api" + path, init);
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.status === 401) { window.location = "/console/login?next=" + encodeURIComponent(location.pathname + location.search); throw new Error("signed out"); }
    if (!res.ok) {
      const err = new Error((data && data.error && data.error.message) || res.statusText || "request failed");
      err.status = res.status; err.data = data; throw err;
    }
    return data;
  };

  T.toast = function (text) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text; el.classList.add("show");
    clearTimeout(T._toast); T._toast = setTimeout(() => el.classList.remove("show"), 1800);
  };

  T.badge = function (state, status) {
    const label = state === "done" || (!state && status) ? status : state;
    return `<span class="badge ${T.esc(label)}">${T.esc(label || "?")}</span>`;
  };

  T.ms = (v) => (v == null ? "–" : v >= 1000 ? (v / 1000).toFixed(2) + " s" : Number(v).toFixed(1) + " ms");
  T.when = function (iso) {
    if (!iso) return "–";
    const d = new Date(iso), s = (Date.now() - d.getTime()) / 1000;
    const rel = s < 60 ? Math.max(0, Math.round(s)) + " s ago" : s < 3600 ? Math.round(s / 60) + " min ago" : s < 86400 ? Math.round(s / 3600) + " h ago" : d.toLocaleDateString();
    return `<time datetime="${T.esc(iso)}" title="${T.esc(d.toLocaleString())}">${rel}</time>`;
  };

  /* JSON as a tree of <details>: objects and arrays collapse, the first levels open. */
  T.jsonTree = function (value, depth = 0, key = null) {
    const k = key === null ? "" : `<span class="k">${T.esc(JSON.stringify(key))}</span>: `;
    if (value === null) return `<div class="row">${k}<span class="z">null</span></div>`;
    if (typeof value === "string") return `<div class="row">${k}<span class="s">${T.esc(JSON.stringify(value))}</span></div>`;
    if (typeof value === "number") return `<div class="row">${k}<span class="n">${value}</span></div>`;
    if (typeof value === "boolean") return `<div class="row">${k}<span class="b">${value}</span></div>`;
    const isArr = Array.isArray(value), entries = isArr ? value.map((v, i) => [i, v]) : Object.entries(value);
    const open = depth < 2 ? " open" : "", [o, c] = isArr ? ["[", "]"] : ["{", "}"];
    if (!entries.length) return `<div class="row">${k}${o}${c}</div>`;
    const inner = entries.map(([kk, v]) => T.jsonTree(v, depth + 1, isArr ? null : kk)).join("");
    return `<details${open}><summary>${k}${o} <span class="z">${entries.length} ${isArr ? "items" : "keys"}</span></summary>${inner}<div>${c}</div></details>`;
  };
  T.jsonBlock = (value) => `<div class="json">${T.jsonTree(value)}</div>`;

  /* Every URL in the result that is an image, audio or video: by its extension, the key that
     holds it (images, audio_url, ...), an output's type, or else (same origin only) by asking
     the server for its content type. */
  const KINDS = [["image", /\.(png|jpe?g|gif|webp|svg)(\?|$)/i], ["audio", /\.(wav|mp3|ogg|m4a|flac)(\?|$)/i], ["video", /\.(mp4|webm|mov)(\?|$)/i]];
  const KEY_HINTS = [["image", /image|img|thumb|picture|photo/i], ["audio", /audio|sound|voice|music|speech/i], ["video", /video|clip|movie/i]];
  const kindOf = (text, table) => { for (const [name, re] of table) if (re.test(text || "")) return name; return null; };
  T.mediaIn = function (value) {
    const found = [], seen = new Set();
    (function walk(v, hint) {
      if (typeof v === "string") {
        if (!/^(https?:\/\/|\/)/.test(v) || seen.has(v)) return;
        seen.add(v);
        found.push({ kind: kindOf(v, KINDS) || hint, url: v });
      } else if (Array.isArray(v)) v.forEach((x) => walk(x, hint));
      else if (v && typeof v === "object") {
        const own = kindOf(typeof v.type === "string" ? v.type : v.mime_type, KEY_HINTS) || hint;
        Object.entries(v).forEach(([k, x]) => walk(x, kindOf(k, KEY_HINTS) || own));
      }
    })(value, null);
    return found;
  };
  async function probe(item) {
    if (item.kind) return item;
    try {
      const url = new URL(item.url, location.href);
      if (url.origin !== location.origin) return item;
      const res = await fetch(url, { method: "HEAD", credentials: "omit" });
      item.kind = kindOf(res.headers.get("content-type"), KEY_HINTS);
    } catch (e) { /* not media, or not reachable */ }
    return item;
  }
  function mediaFigure(m, i) {
    const name = T.esc(m.url.split("/").pop().split("?")[0]), url = T.esc(m.url);
    const el = m.kind === "image" ? `<img src="${url}" alt="Generated image ${i + 1} (${name})">`
      : m.kind === "audio" ? `<audio controls src="${url}" aria-label="Generated audio ${i + 1}"></audio>`
      : `<video controls src="${url}" aria-label="Generated video ${i + 1}"></video>`;
    return `<figure>${el}<figcaption><a href="${url}" target="_blank" rel="noopener">${name}</a></figcaption></figure>`;
  }
  /* Fills the media section of a rendered result (see resultHtml). */
  T.fillMedia = async function (root, result) {
    const section = root.querySelector(".media-section");
    if (!section) return;
    const items = (await Promise.all(T.mediaIn(result).slice(0, 24).map(probe))).filter((m) => m.kind);
    if (!items.length) return;
    section.querySelector(".media").innerHTML = items.map(mediaFigure).join("");
    section.hidden = false;
  };

  T.callsTable = function (calls) {
    if (!calls || !calls.length) return `<p class="muted">No client calls.</p>`;
    const rows = calls.map((c, i) => `<tr><td class="num">${i + 1}</td><td><code>${T.esc(c.method)}</code></td>
      <td class="args"><code>${T.esc(JSON.stringify(c.arguments ?? {}))}</code></td>
      <td>${T.badge(null, c.status)}</td><td class="num">${T.ms(c.ms)}</td></tr>`).join("");
    return `<div class="table-wrap"><table class="data calls"><caption class="sr-only">Client calls</caption>
      <thead><tr><th scope="col" class="num">#</th><th scope="col">Method</th><th scope="col">Arguments</th><th scope="col">Status</th><th scope="col" class="num">ms</th></tr></thead>
      <tbody>${rows}</tbody></table></div>`;
  };

  T.errorPanel = function (err) {
    if (!err) return "";
    const line = err.line ? ` on line <a href="#" data-line="${err.line}" class="goto-line">${err.line}</a>` : "";
    const problems = (err.problems || []).length > 1 ? `<ul>${err.problems.map((p) => `<li>line ${T.esc(p.line)}: ${T.esc(p.message)}${p.hint ? ` — <em>${T.esc(p.hint)}</em>` : ""}</li>`).join("")}</ul>` : "";
    const message = err.line ? String(err.message || "").replace(/^line \d+: /, "") : err.message;
    return `<div class="error-panel" role="alert"><div><span class="etype">${T.esc(err.type)}</span>${line}: ${T.esc(message)}</div>
      ${err.source ? `<div style="margin-top:6px"><span class="src">${T.esc(err.source)}</span></div>` : ""}
      ${err.hint ? `<div class="hint"><strong>Hint:</strong> ${T.esc(err.hint)}</div>` : ""}${problems}
      ${err.traceback ? `<details><summary>Traceback</summary><pre>${T.esc(err.traceback)}</pre></details>` : ""}</div>`;
  };

  /* The body of a finished execution, as the playground and the detail page show it. */
  T.resultHtml = function (body) {
    const parts = [];
    if (body.error) parts.push(`<section><h3>Error</h3>${T.errorPanel(body.error)}</section>`);
    parts.push(`<section class="media-section" hidden><h3>Generated media</h3><div class="media"></div></section>`);
    if (body.status === "ok" || body.result != null) parts.push(`<section><h3>Result</h3>${T.jsonBlock(body.result)}</section>`);
    parts.push(`<section><h3>stdout${body.stdout_truncated ? " (cut)" : ""}</h3>${body.stdout ? `<pre class="stdout">${T.esc(body.stdout)}</pre>` : `<p class="muted">Nothing printed.</p>`}</section>`);
    parts.push(`<section><h3>Client calls (${(body.calls || []).length})</h3>${T.callsTable(body.calls)}</section>`);
    if (body.warnings && body.warnings.length) parts.push(`<section><h3>Warnings</h3><ul class="problems">${body.warnings.map((w) => `<li class="warning">${T.esc(w)}</li>`).join("")}</ul></section>`);
    return parts.join("");
  };
})();
