/* The playground: edit, check while typing (pre-flight in a sandbox child, nothing runs), run
   now or async, and show what the agent would see. */
"use strict";
(function () {
  const T = window.Terrarium, $ = (id) => document.getElementById(id);
  const examples = JSON.parse($("examples-data").textContent);
  const out = $("output"), runStatus = $("run-status"), checkStatus = $("check-status"), problemsEl = $("problems");
  let checkTimer = null, checkSeq = 0, running = false;

  const editor = new T.Editor($("editor"), {
    label: "Script (Python)", value: examples[0].code,
    onChange: () => { editor && editor.setMarks({}); scheduleCheck(); },
    onRun: () => run("sync"),
  });

  $("example").addEventListener("change", (e) => {
    const ex = examples.find((x) => x.id === e.target.value);
    if (ex) { editor.value = ex.code; T.toast(`Loaded: ${ex.title}`); }
  });

  function scheduleCheck() {
    clearTimeout(checkTimer);
    checkStatus.className = "check-status"; checkStatus.textContent = "";
    checkTimer = setTimeout(check, 700);
  }

  function showProblems(problems, warnings) {
    const marks = {};
    problems.forEach((p) => { if (p.line) marks[p.line] = "bad"; });
    editor.setMarks(marks);
    problemsEl.innerHTML = problems.map((p) => `<li>${p.line ? `<button type="button" class="line-link" data-line="${p.line}" aria-label="Go to line ${p.line}">line ${p.line}</button>` : ""}${T.esc(p.message)}${p.hint ? `<span class="hint">Hint: ${T.esc(p.hint)}</span>` : ""}</li>`).join("")
      + (warnings || []).map((w) => `<li class="warning">${T.esc(w)}</li>`).join("");
  }

  async function check() {
    const code = editor.value, seq = ++checkSeq;
    if (!code.trim()) { showProblems([], []); return; }
    checkStatus.textContent = "Checking…";
    try {
      const r = await T.api("/check", { method: "POST", body: { code } });
      if (seq !== checkSeq) return;
      if (!r.checked) { checkStatus.textContent = "Not checked: " + (r.note || "the sandbox is busy"); return; }
      showProblems(r.problems, r.warnings);
      checkStatus.className = "check-status " + (r.ok ? "ok" : "bad");
      checkStatus.textContent = r.ok ? "✓ Pre-flight passed: every client.* call matches the surface." : `✗ ${r.problems.length} problem${r.problems.length > 1 ? "s" : ""} found before running`;
    } catch (e) {
      if (seq === checkSeq) checkStatus.textContent = "Not checked: " + e.message;
    }
  }
  $("check").addEventListener("click", () => { clearTimeout(checkTimer); check(); });

  function request(mode) {
    const body = { code: editor.value, mode };
    const raw = $("inputs").value.trim();
    $("inputs-error").textContent = ""; $("inputs").removeAttribute("aria-invalid");
    if (raw) {
      let parsed;
      try { parsed = JSON.parse(raw); } catch (e) { parsed = e; }
      if (parsed instanceof Error || parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        $("inputs-error").textContent = "inputs must be a JSON object" + (parsed instanceof Error ? ": " + parsed.message : "");
        $("inputs").setAttribute("aria-invalid", "true"); $("inputs").focus();
        return null;
      }
      body.inputs = parsed;
    }
    for (const f of ["timeout_s", "cpu_s", "memory_mb", "max_calls"]) {
      const v = $(f).value.trim();
      if (v) body[f] = Number(v);
    }
    return body;
  }

  function show(body) {
    $("out-meta").innerHTML = `<code>${T.esc(body.execution_id)}</code> · ${T.ms(body.duration_ms)} wall · ${T.ms(body.cpu_ms)} CPU · <a href="/console/executions/${T.esc(body.execution_id)}">details</a>`;
    out.innerHTML = `<div>${T.badge(body.state || "done", body.status)}</div>` + T.resultHtml(body);
    T.fillMedia(out, body.result);
    if (body.error && body.error.line) {
      const marks = {};
      (body.error.problems || [body.error]).forEach((p) => { if (p.line) marks[p.line] = "bad"; });
      editor.setMarks(marks);
    }
  }

  async function run(mode) {
    if (running) return;
    const body = request(mode);
    if (!body) return;
    running = true; $("run").disabled = $("run-async").disabled = true;
    runStatus.innerHTML = T.badge("running") + (mode === "async" ? " submitting…" : "");
    out.setAttribute("aria-busy", "true");
    try {
      if (mode === "sync") { const r = await T.api("/run", { method: "POST", body }); show(r); runStatus.innerHTML = T.badge("done", r.status); }
      else {
        const q = await T.api("/run", { method: "POST", body });
        runStatus.innerHTML = `${T.badge(q.state)} <a href="/console/executions/${T.esc(q.execution_id)}">${T.esc(q.execution_id)}</a>`;
        out.innerHTML = `<p class="empty">Submitted as <code>${T.esc(q.execution_id)}</code>; watching it here (and in Executions).</p>`;
        for (;;) {
          await new Promise((r) => setTimeout(r, 500));
          const d = await T.api("/executions/" + encodeURIComponent(q.execution_id));
          runStatus.innerHTML = `${T.badge(d.state, d.status)} <a href="/console/executions/${T.esc(d.execution_id)}">${T.esc(d.execution_id)}</a>`;
          if (d.state === "done" || d.state === "failed") { show(d); break; }
        }
      }
    } catch (e) {
      runStatus.innerHTML = T.badge("error");
      out.innerHTML = `<div class="error-box" role="alert">${T.esc(e.message)}</div>`;
    } finally {
      running = false; $("run").disabled = $("run-async").disabled = false; out.removeAttribute("aria-busy");
    }
  }
  $("run").addEventListener("click", () => run("sync"));
  $("run-async").addEventListener("click", () => run("async"));
  document.addEventListener("click", (e) => {
    const t = e.target.closest("[data-line]");
    if (t) { e.preventDefault(); editor.goto(Number(t.dataset.line)); }
  });

  // ?from=exe_… loads an execution's code and limits; ?example=id loads an example.
  const params = new URLSearchParams(location.search);
  if (params.get("from")) {
    T.api("/executions/" + encodeURIComponent(params.get("from"))).then((d) => {
      editor.value = d.code || "";
      const l = d.limits || {};
      for (const f of ["timeout_s", "cpu_s", "memory_mb", "max_calls"]) if (l[f] != null) $(f).value = l[f];
      T.toast(`Loaded ${d.execution_id}`);
    }).catch((e) => T.toast(e.message));
  } else if (params.get("example")) {
    const ex = examples.find((x) => x.id === params.get("example"));
    if (ex) { $("example").value = ex.id; editor.value = ex.code; }
  } else scheduleCheck();
})();
