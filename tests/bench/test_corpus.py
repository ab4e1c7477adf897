"""The corpus runner: snippets load, CPython's answers are computed, Terrarium is scored."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import corpus


def test_the_everyday_corpus_is_large_and_covers_every_new_module() -> None:
    snippets = corpus.load()
    assert len(snippets) >= 120
    assert len({s.name for s in snippets}) == len(snippets)
    text = "\n".join(s.code for s in snippets)
    modules = ("dataclasses", "enum", "operator", "bisect", "heapq", "decimal", "fractions",
               "pprint", "csv", "io", "urllib.parse", "zoneinfo", "asyncio", "typing")  # fmt: skip
    for module in modules:
        assert f"import {module}" in text or f"from {module} import" in text, module
    assert sum(s.uses_client for s in snippets) >= 5


def test_reference_answers_come_from_cpython() -> None:
    snippets = [
        corpus.Snippet("printed", "print(sorted({3, 1, 2}))", False),
        corpus.Snippet("value", "x = {'a': (1, 2)}\nx", False),
        corpus.Snippet("raised", "int('x')", False),
    ]
    answers = corpus.reference(snippets, dict(os.environ))
    assert answers[0].stdout == "[1, 2, 3]\n"
    assert answers[1].value == {"a": [1, 2]}
    assert answers[2].error == "ValueError"


def test_same_compares_output_value_and_error_type() -> None:
    a = corpus.Answer("x\n", 1)
    assert corpus.same(a, corpus.Answer("x\n", 1))
    assert not corpus.same(a, corpus.Answer("x\n", 2))
    assert not corpus.same(a, corpus.Answer("y\n", 1))
    assert not corpus.same(
        corpus.Answer("", error="KeyError"), corpus.Answer("", error="TypeError")
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_measure_scores_terrarium_against_cpython(tmp_path: Path) -> None:
    pytest.importorskip("httpx")
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "ok.py").write_text("print([i * i for i in range(3)])\n")
    (cases / "err.py").write_text("{}['k']\n")
    table, rates = corpus.measure_rates(cases, quick=True)
    assert "| everyday agent Python |" in table and "| test cases in cases | 2 |" in table
    assert rates["cases"] == 100.0
    assert rates["everyday"] > 50
