/* A small code editor: a textarea over a highlighted <pre>, line numbers, marked lines.
   Python highlighting is hand-written (a tokenizer of a few regular expressions).
   Keys: Tab indents (Esc then Tab leaves the editor), Shift+Tab dedents, Enter keeps the
   indentation, Ctrl/Cmd+Enter runs. */
"use strict";
(function () {
  const T = window.Terrarium;
  const KW = new Set("False None True and as assert async await break case class continue def del elif else except finally for from global if import in is lambda match nonlocal not or pass raise return try while with yield".split(" "));
  const BI = new Set("abs all any bool dict enumerate filter float int isinstance len list map max min print range repr reversed round set sorted str sum tuple type zip inputs Exception ValueError KeyError RuntimeError TypeError FloraError NotFoundError RateLimitError".split(" "));
  const TOKEN = /(#[^\n]*)|((?:[rRbBuUfF]{1,2})?(?:"""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)))|((?:[rRbBuUfF]{1,2})?(?:"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?))|(\b(?:0[xXoObB][0-9a-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?j?)\b)|(@[\w.]+)|([A-Za-z_]\w*)|([\s\S])/g;

  function highlightLines(text) {
    const lines = [""];
    const emit = (cls, s) => {
      const pieces = s.split("\n");
      pieces.forEach((piece, i) => {
        if (i > 0) lines.push("");
        if (piece) lines[lines.length - 1] += cls ? `<span class="tok-${cls}">${T.esc(piece)}</span>` : T.esc(piece);
      });
    };
    let m;
    TOKEN.lastIndex = 0;
    while ((m = TOKEN.exec(text))) {
      if (m[1]) emit("com", m[1]);
      else if (m[2]) emit("str", m[2]);
      else if (m[3]) emit("str", m[3]);
      else if (m[4]) emit("num", m[4]);
      else if (m[5]) emit("dec", m[5]);
      else if (m[6]) {
        const w = m[6];
        const next = text.slice(TOKEN.lastIndex).match(/^\s*\(/);
        emit(w === "client" ? "client" : KW.has(w) ? "kw" : BI.has(w) ? "bi" : next ? "fn" : "", w);
      } else emit("", m[7]);
    }
    return lines;
  }
  T.highlightLines = highlightLines;
  T.highlight = (text) => highlightLines(text).join("\n");

  class Editor {
    constructor(el, opts = {}) {
      this.el = el; this.opts = opts; this.marks = {};
      el.innerHTML = `<div class="gutter" aria-hidden="true"></div><div class="scroller"><pre aria-hidden="true"><code></code></pre>
        <textarea spellcheck="false" autocapitalize="off" autocomplete="off" wrap="off" aria-label="${T.esc(opts.label || el.dataset.label || "Code")}"${opts.readOnly ? " readonly" : ""}></textarea></div>`;
      this.gutter = el.querySelector(".gutter"); this.scroller = el.querySelector(".scroller");
      this.code = el.querySelector("code"); this.ta = el.querySelector("textarea");
      if (opts.readOnly) el.classList.add("readonly");
      this.ta.value = opts.value || "";
      this.ta.addEventListener("input", () => { this.render(); opts.onChange && opts.onChange(this.value); });
      this.ta.addEventListener("keydown", (e) => this.key(e));
      this.scroller.addEventListener("scroll", () => { this.gutter.scrollTop = this.scroller.scrollTop; });
      window.addEventListener("resize", () => this.size());
      this.render();
    }
    get value() { return this.ta.value; }
    set value(v) { this.ta.value = v; this.marks = {}; this.render(); this.opts.onChange && this.opts.onChange(v); }
    setMarks(marks) { this.marks = marks || {}; this.render(); }
    render() {
      const lines = highlightLines(this.ta.value);
      this.code.innerHTML = lines.map((html, i) => {
        const mark = this.marks[i + 1];
        return mark ? `<span class="line ${mark}">${html || " "}</span>` : html;
      }).join("\n") + "\n";
      this.gutter.innerHTML = lines.map((_, i) => {
        const mark = this.marks[i + 1];
        return `<div${mark ? ` class="${mark}"` : ""}>${i + 1}</div>`;
      }).join("") + `<div>&nbsp;</div>`;
      this.size();
    }
    size() {
      const ta = this.ta, pre = this.code.parentElement;
      ta.style.height = "0px"; ta.style.width = "0px";
      ta.style.height = Math.max(ta.scrollHeight, pre.scrollHeight, this.scroller.clientHeight) + "px";
      ta.style.width = Math.max(ta.scrollWidth, pre.scrollWidth, this.scroller.clientWidth) + "px";
      if (this.opts.readOnly) this.el.style.height = Math.min(420, pre.scrollHeight + 2) + "px";
    }
    goto(line) {
      const lines = this.ta.value.split("\n");
      let pos = 0;
      for (let i = 0; i < Math.min(line - 1, lines.length); i++) pos += lines[i].length + 1;
      this.ta.focus();
      this.ta.setSelectionRange(pos, pos + (lines[line - 1] || "").length);
      const lh = parseFloat(getComputedStyle(this.ta).lineHeight) || 19;
      this.scroller.scrollTop = Math.max(0, (line - 4) * lh);
    }
    key(e) {
      const ta = this.ta;
      if (e.key === "Escape") { this.escaped = true; return; }
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); this.opts.onRun && this.opts.onRun(); return; }
      if (this.opts.readOnly) return;
      if (e.key === "Tab" && !this.escaped) {
        e.preventDefault();
        const s = ta.selectionStart, v = ta.value;
        if (e.shiftKey) {
          const start = v.lastIndexOf("\n", s - 1) + 1, m = v.slice(start).match(/^ {1,4}/);
          if (m) { ta.setRangeText("", start, start + m[0].length, "end"); }
        } else ta.setRangeText("    ", s, ta.selectionEnd, "end");
        ta.dispatchEvent(new Event("input"));
        return;
      }
      this.escaped = false;
      if (e.key === "Enter" && !e.shiftKey) {
        const s = ta.selectionStart, v = ta.value, start = v.lastIndexOf("\n", s - 1) + 1;
        const line = v.slice(start, s), indent = line.match(/^\s*/)[0] + (/:\s*$/.test(line) ? "    " : "");
        e.preventDefault();
        ta.setRangeText("\n" + indent, s, ta.selectionEnd, "end");
        ta.dispatchEvent(new Event("input"));
      }
    }
  }
  T.Editor = Editor;
})();
