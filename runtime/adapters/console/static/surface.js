/* The surface page: highlight the examples, filter methods as one types (every word must match). */
"use strict";
(function () {
  const T = window.Terrarium, input = document.getElementById("surface-search");
  document.querySelectorAll("pre.example code.py").forEach((c) => { c.innerHTML = T.highlight(c.textContent); });
  const methods = [...document.querySelectorAll(".method")], groups = [...document.querySelectorAll(".resource")];
  function filter() {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    methods.forEach((m) => { const hit = words.every((w) => m.dataset.search.includes(w)); m.hidden = !hit; if (hit) shown++; });
    groups.forEach((g) => { g.hidden = !g.querySelector(".method:not([hidden])"); });
    document.getElementById("surface-none").hidden = shown > 0;
    document.getElementById("surface-count").textContent = words.length ? `${shown} of ${methods.length} methods` : "";
    history.replaceState(null, "", words.length ? "?q=" + encodeURIComponent(input.value) : location.pathname);
  }
  input.addEventListener("input", filter);
  document.addEventListener("keydown", (e) => { if (e.key === "/" && document.activeElement !== input) { e.preventDefault(); input.focus(); } });
  const q = new URLSearchParams(location.search).get("q");
  if (q) { input.value = q; filter(); }
})();
