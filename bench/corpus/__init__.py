"""Everyday agent Python, run by each runtime and compared with CPython's own answer.

`everyday/*.corpus` hold the snippets (Python, named so that linters leave them alone), each
after a `# === name` line: data wrangling and API orchestration the way models write them.
The expected answer of each is what CPython prints, returns (the last expression) or raises,
computed by running CPython here, never written down.
A snippet that uses `client` runs in CPython against the same built-in backend through the
Python SDK (`AsyncFlora`), and in Terrarium through the injected `client`.

`python -m bench.corpus [--cases DIR]` prints the pass rates; `--cases` adds a directory of
`.py` test cases (for example pydantic/monty's `crates/monty/test_cases`, from a local checkout).
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


@dataclass
class Snippet:
    name: str
    code: str
    uses_client: bool


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
            snippets.append(Snippet(path.stem, text, "client." in text))
            continue
        for chunk in text.split("# === ")[1:]:
            name, _, code = chunk.partition("\n")
            snippets.append(Snippet(f"{path.stem}/{name.strip()}", code, "client." in code))
    return snippets


def reference(snippets: list[Snippet], env: dict[str, str] | None = None) -> list[Answer]:
    """CPython's answers, from one fresh interpreter (each snippet in fresh globals)."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.corpus.reference"],
        input=json.dumps([s.code for s in snippets]),
        capture_output=True, text=True, timeout=600, env=env, cwd=HERE.parent.parent,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return [Answer(**a) for a in json.loads(proc.stdout)]


def same(expected: Answer, got: Answer) -> bool:
    if expected.error or got.error:
        return expected.error == got.error and expected.stdout == got.stdout
    return expected.stdout == got.stdout and expected.value == got.value


def score(
    snippets: list[Snippet], expected: list[Answer], run: Callable[[Snippet], Answer | None]
) -> tuple[int, int, list[str]]:
    """(passed, counted, names of failures); a runtime answering None skips the snippet."""
    passed, counted, failed = 0, 0, []
    for snippet, want in zip(snippets, expected, strict=True):
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


def jsonish(value: Any) -> Any:
    """A last value as JSON would carry it (tuples as lists, other objects as their repr)."""
    try:
        return json.loads(json.dumps(value, default=repr))
    except (TypeError, ValueError):
        return repr(value)


# --- the runtimes ------------------------------------------------------------------------------
def terrarium_runner(url: str, headers: dict[str, str]) -> Callable[[Snippet], Answer]:
    import httpx

    http = httpx.Client(base_url=url, headers=headers, timeout=60)

    def run(snippet: Snippet) -> Answer:
        body = http.post("/v1/execute", json={"code": snippet.code}).json()
        error = (body.get("error") or {}).get("type") if body["status"] != "ok" else None
        if body["status"] == "rejected":
            error = "rejected"
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
        except Exception as exc:  # noqa: BLE001 - the peer's error names the Python type
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
    corpora = [("everyday agent Python", everyday[::10] if quick else everyday)]
    if cases is not None:
        corpora.append((f"test cases in {cases.name}", load(cases)))
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
        for label, snippets in corpora:
            expected = reference(snippets, env)
            cells = []
            for name, run in (("Terrarium", terrarium), ("pydantic-monty", monty and monty[0]),
                              ("smolagents", smol)):  # fmt: skip
                if run is None:
                    cells.append("not installed")
                    continue
                passed, counted, failed = score(snippets, expected, run)
                if name == "Terrarium":
                    rates["everyday" if not rates else "cases"] = 100 * passed / max(counted, 1)
                cells.append(f"{100 * passed / max(counted, 1):.1f}% ({passed}/{counted})")
                if show_failures and failed:
                    notes.append(f"- {name}, {label}: {', '.join(failed)}")
            lines.append(f"| {label} | {len(snippets)} | {' | '.join(cells)} |")
    if monty is not None:
        monty[1]()
    clients = sum(s.uses_client for s in corpora[0][1])
    notes.insert(
        0,
        f"- The everyday corpus holds {clients} snippets that call `client` (FLORA through the "
        "built-in backend); the peers have no FLORA client, so those count as failures for them.",
    )
    return "\n".join(lines + [""] + notes), rates
