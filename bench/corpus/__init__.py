"""Everyday agent Python, run by each runtime and compared with CPython's own answer.

`everyday/*.corpus` hold the snippets (Python, named so that linters leave them alone), each
after a `# === name` line: data wrangling and API orchestration the way models write them.
The expected answer of each is what CPython prints, returns (the last expression) or raises,
computed by running CPython here, never written down.
A snippet that uses `client` runs in CPython against the same built-in backend through the
Python SDK (`AsyncFlora`), and in Terrarium through the injected `client`.

`python -m bench.corpus [--cases DIR]` prints the pass rates; `--cases` adds a directory of
`.py` test cases, one case per file (pydantic/monty's `crates/monty/test_cases`, which
`scripts/ensure-monty-cases.sh` fetches from its 0.0.19 sdist).

Which cases count is decided per case, before any runtime runs, identically for all three:
- a case CPython cannot answer (it runs past its time, kills its process, or ends with a value
  that cannot be written down) is "not comparable";
- in monty's cases, a case marked `# call-external` calls functions monty's own test harness
  defines (`add_ints`, `make_point`, `async_call`...), which no runtime here has; `# mount-fs`
  needs the directory monty's harness mounts; `# xfail=cpython` is its authors' mark that the
  case describes monty's behaviour where it differs from CPython's (`sys.version == '3.14.0
  (Monty)'`, generator expressions that are lists, ids of distinct objects). These are
  "excluded", each with its reason.
Everything else counts, `# xfail=monty` included. The expectation comments (`# Return=`,
`# Raise=`, a TRACEBACK docstring, `# ref-counts=`) are comments or a trailing string to
Python and are not read: the expected answer is what CPython does (its output, last value and
exception type; never monty's messages), and `# run-async` cases, whose top level awaits, run
in CPython with top-level await allowed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EVERYDAY = HERE / "everyday"


# The markers of monty's test cases that leave a case out, and why (see the module's docstring).
EXCLUDING_MARKERS = {
    "call-external": "calls functions only monty's test harness defines (# call-external)",
    "mount-fs": "needs the directory monty's test harness mounts (# mount-fs)",
    "xfail=cpython": "describes monty's behaviour where it differs from CPython (# xfail=cpython)",
}


@dataclass
class Snippet:
    name: str
    code: str
    uses_client: bool
    excluded: str | None = None  # why the case is left out of every runtime's score


@dataclass
class Answer:
    """What a run printed, its last expression (as JSON) and the type of what it raised."""

    stdout: str
    value: Any = None
    error: str | None = None


def load(directory: Path = EVERYDAY) -> list[Snippet]:
    snippets = []
    for path in sorted([*directory.glob("*.corpus"), *directory.glob("*.py")]):
        text = path.read_text()
        if path.suffix == ".py":  # one case per file (monty's test cases)
            snippets.append(Snippet(path.stem, text, "client." in text, excluded(text)))
            continue
        for chunk in text.split("# === ")[1:]:
            name, _, code = chunk.partition("\n")
            snippets.append(Snippet(f"{path.stem}/{name.strip()}", code, "client." in code))
    return snippets


def excluded(text: str) -> str | None:
    """Why a monty test case is left out, from its marker comments (None: it counts)."""
    for line in text.splitlines():
        if line.startswith("#"):
            word = line.lstrip("#").strip()
            for marker, why in EXCLUDING_MARKERS.items():
                if word.startswith(marker):
                    return why
    return None


def label_of(directory: Path) -> str:
    """A directory's row name: the first line of its LABEL file, else its name."""
    label = directory / "LABEL"
    if label.is_file():
        return label.read_text().strip().splitlines()[0]
    return f"test cases in {directory.name}"


def unavailable(directory: Path) -> str | None:
    """Why a directory of cases holds none (its UNAVAILABLE file, or that it is empty)."""
    why = directory / "UNAVAILABLE"
    if why.is_file():
        return why.read_text().strip() or "unavailable"
    if not directory.is_dir():
        return f"{directory} does not exist"
    if not any(directory.glob("*.py")):
        return f"{directory} holds no .py cases"
    return None


def reference(snippets: list[Snippet], env: dict[str, str] | None = None) -> list[Answer | str]:
    """CPython's answers, each snippet in a fresh fork of one interpreter; a snippet CPython
    cannot answer gets the reason instead of an Answer."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.corpus.reference"],
        input=json.dumps([s.code for s in snippets]),
        capture_output=True, text=True, timeout=3600, env=env, cwd=HERE.parent.parent,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return [
        Answer(a["stdout"], a["value"], a["error"]) if a.get("comparable", True) else a["why"]
        for a in json.loads(proc.stdout)
    ]


def same(expected: Answer, got: Answer) -> bool:
    if expected.error or got.error:
        return expected.error == got.error and expected.stdout == got.stdout
    return expected.stdout == got.stdout and expected.value == got.value


def score(
    snippets: list[Snippet], expected: list[Answer | str], run: Callable[[Snippet], Answer | None]
) -> tuple[int, int, list[str]]:
    """(passed, counted, names of failures); excluded and not comparable snippets are not run,
    and a runtime answering None skips the snippet."""
    passed, counted, failed = 0, 0, []
    for snippet, want in zip(snippets, expected, strict=True):
        if snippet.excluded or not isinstance(want, Answer):
            continue
        try:
            got = run(snippet)
        except Exception as exc:  # noqa: BLE001 - a runtime that crashes fails the snippet
            got = Answer("", error=f"crash: {type(exc).__name__}")
        if got is None:
            continue
        counted += 1
        if same(want, got):
            passed += 1
        else:
            failed.append(snippet.name)
    return passed, counted, failed


def canonical(value: Any, depth: int = 0) -> Any:
    """A last value as JSON carries it, by one rule for every runtime: tuples as lists, sets
    as sorted lists, dict keys as strings, anything else that JSON has no type for as its
    repr(). Nesting past 100 levels is not comparable (ValueError)."""
    if depth > 100:
        raise ValueError("the last value nests deeper than 100 levels")
    t = type(value)
    if value is None or t in (bool, int, str):
        return value
    if t is float:
        return value if value == value and value not in (float("inf"), -float("inf")) else None
    if t in (list, tuple):
        return [canonical(v, depth + 1) for v in value]
    if t in (set, frozenset):
        items = [canonical(v, depth + 1) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if t is dict:
        return {
            (k if type(k) is str else json.dumps(canonical(k, depth + 1))): canonical(v, depth + 1)
            for k, v in value.items()
        }
    return repr(value)


def jsonish(value: Any) -> Any:
    """A last value as JSON would carry it, by the rule CPython's answer follows
    (`canonical`: tuples and sets as lists, other objects as their repr)."""
    try:
        return canonical(value)
    except (ValueError, RecursionError):
        return "<not comparable>"


# --- the runtimes ------------------------------------------------------------------------------
def terrarium_runner(url: str, headers: dict[str, str]) -> Callable[[Snippet], Answer]:
    import httpx

    http = httpx.Client(base_url=url, headers=headers, timeout=60)

    def run(snippet: Snippet) -> Answer:
        body = http.post("/v1/execute", json={"code": snippet.code}).json()
        # A script refused before it runs has the type of its refusal: SyntaxError for what
        # CPython would not compile either, PolicyError (which CPython never raises) otherwise.
        error = (body.get("error") or {}).get("type") if body["status"] != "ok" else None
        if body["status"] != "ok" and not error:
            error = body["status"]
        return Answer(body.get("stdout") or "", jsonish(body.get("result")), error)

    return run


def monty_runner() -> tuple[Callable[[Snippet], Answer | None], Callable[[], None]] | None:
    try:
        import pydantic_monty as pm
    except ImportError:
        return None
    pool = pm.Monty(min_processes=1)
    pool.__enter__()

    def run(snippet: Snippet) -> Answer | None:
        if snippet.uses_client:
            return Answer("", error="no client")  # monty has no FLORA client to call
        out: list[str] = []
        try:
            with pool.checkout() as session:
                value = session.feed_run(
                    snippet.code, print_callback=lambda _stream, text: out.append(text),
                    skip_type_check=True,
                )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - the peer's error carries the script's
            inner = exc.exception() if hasattr(exc, "exception") else None
            if isinstance(inner, BaseException):
                return Answer("".join(out), error=type(inner).__name__)
            text = str(exc)
            kind = text.split(":", 1)[0].strip() if ":" in text else type(exc).__name__
            return Answer("".join(out), error=kind if kind.isidentifier() else "error")
        return Answer("".join(out), jsonish(value))

    return run, lambda: pool.__exit__(None, None, None)


def smolagents_runner() -> Callable[[Snippet], Answer | None] | None:
    try:
        from smolagents.local_python_executor import LocalPythonExecutor
    except ImportError:
        return None
    modules = [
        "json", "math", "re", "datetime", "time", "random", "itertools", "collections",
        "statistics", "typing", "functools", "base64", "hashlib", "uuid", "string", "textwrap",
        "copy", "dataclasses", "enum", "operator", "bisect", "heapq", "decimal", "fractions",
        "pprint", "csv", "io", "urllib.parse", "zoneinfo", "asyncio",
    ]  # fmt: skip

    def run(snippet: Snippet) -> Answer | None:
        if snippet.uses_client:
            return Answer("", error="no client")
        ex = LocalPythonExecutor(additional_authorized_imports=modules, timeout_seconds=None)
        ex.send_tools({})
        try:
            result = ex(snippet.code)
        except Exception as exc:  # noqa: BLE001 - its errors wrap the script's
            text = str(exc)
            for word in text.replace(":", " ").split():
                if word.endswith(("Error", "Exception")) and word.isidentifier():
                    return Answer(
                        str(getattr(ex, "state", {}).get("_print_outputs", "")), error=word
                    )
            return Answer("", error="error")
        printed = str(ex.state.get("_print_outputs", ""))
        return Answer(printed, jsonish(result.output))

    return run


# --- the measurement ---------------------------------------------------------------------------
def dev_key(data_dir: Path) -> str | None:
    path = next(data_dir.rglob("dev-key"), None)
    return path.read_text().strip() if path else None


def measure(cases: Path | None = None, show_failures: bool = False) -> str:
    """Markdown: a table of pass rates per runtime, one row per corpus."""
    return measure_rates(cases, show_failures)[0]


def measure_rates(
    cases: Path | None = None, show_failures: bool = False, quick: bool = False
) -> tuple[str, dict[str, float]]:
    """The table, and Terrarium's pass rate (%) per corpus ("everyday", "cases")."""
    import os

    from bench.server import Server

    everyday = load()
    corpora: list[tuple[str, list[Snippet], str]] = [
        ("everyday agent Python", everyday[::10] if quick else everyday, "everyday")
    ]
    rows_missing: list[str] = []
    if cases is not None:
        why = unavailable(cases)
        if why is None:
            every = load(cases)  # a large directory is sampled in a quick run, a small one not
            sample = every[::10] if quick and len(every) > 100 else every
            corpora.append((label_of(cases), sample, "cases"))
        else:
            rows_missing.append(f"| {label_of(cases)} | - | not run: {why} | | |")
    rates: dict[str, float] = {}
    lines = ["| Corpus | snippets | Terrarium | pydantic-monty | smolagents |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    notes: list[str] = []
    monty = monty_runner()
    smol = smolagents_runner()
    with Server() as srv:
        key = dev_key(Path(srv._tmp.name))
        env = {**os.environ, "FLORA_API_KEY": key or "", "FLORA_BASE_URL": srv.url + "/api/v1"}
        terrarium = terrarium_runner(srv.url, srv.headers)
        for label, snippets, rate_key in corpora:
            expected = reference(snippets, env)
            left_out = [s for s in snippets if s.excluded]
            not_comparable = [
                (s, w) for s, w in zip(snippets, expected, strict=True)
                if not s.excluded and not isinstance(w, Answer)
            ]  # fmt: skip
            cells = []
            for name, run in (("Terrarium", terrarium), ("pydantic-monty", monty and monty[0]),
                              ("smolagents", smol)):  # fmt: skip
                if run is None:
                    cells.append("not installed")
                    continue
                passed, counted, failed = score(snippets, expected, run)
                if name == "Terrarium":
                    rates[rate_key] = 100 * passed / max(counted, 1)
                cells.append(f"{100 * passed / max(counted, 1):.1f}% ({passed}/{counted})")
                if show_failures and failed:
                    notes.append(f"- {name}, {label}: {', '.join(failed)}")
            lines.append(f"| {label} | {len(snippets)} | {' | '.join(cells)} |")
            if left_out or not_comparable:
                reasons: dict[str, int] = {}
                for s in left_out:
                    reasons[s.excluded or ""] = reasons.get(s.excluded or "", 0) + 1
                parts = [f"{n} {why}" for why, n in sorted(reasons.items())]
                if not_comparable:
                    parts.append(f"{len(not_comparable)} not comparable (CPython gave no answer)")
                notes.append(f"- {label}: left out of every runtime's score: {'; '.join(parts)}.")
                if show_failures:
                    notes.extend(f"  - {s.name}: {w}" for s, w in not_comparable)
    if monty is not None:
        monty[1]()
    clients = sum(s.uses_client for s in corpora[0][1])
    notes.insert(
        0,
        f"- The everyday corpus holds {clients} snippets that call `client` (FLORA through the "
        "built-in backend); the peers have no FLORA client, so those count as failures for them.",
    )
    return "\n".join(lines + rows_missing + [""] + notes), rates
