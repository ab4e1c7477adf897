"""Errors an agent can act on: the line, the source, the script's own frames, a hint."""

from __future__ import annotations

import textwrap


def test_runtime_error_names_the_line_and_source(run):
    code = textwrap.dedent("""\
        def helper(d):
            return d['missing']

        def run(client):
            return helper({})
    """)
    body = run(code)
    assert body["status"] == "error"
    error = body["error"]
    assert error["type"] == "KeyError"
    assert error["line"] == 2
    assert error["source"] == "return d['missing']"
    assert "line 5, in run" in error["traceback"]
    assert "line 2, in helper" in error["traceback"]
    assert "sandbox/" not in error["traceback"]  # only the script's frames


def test_name_error_suggests_the_close_name(run):
    body = run("values = [1, 2]\nvalus")
    assert body["error"]["type"] == "NameError"
    assert body["error"]["hint"] == "did you mean 'values'?"


def test_unavailable_builtin_says_why(run):
    body = run("open('/etc/passwd').read()")
    assert body["error"]["type"] == "NameError"
    assert "no filesystem" in body["error"]["hint"]


def test_syntax_error_is_rejected_with_its_line(run):
    body = run("x = 1\ny = (2\nz = 3")
    assert body["status"] == "rejected"
    assert body["error"]["type"] == "SyntaxError"
    assert body["error"]["line"] == 2


def test_every_policy_problem_is_listed_with_its_line(run):
    body = run("a = int.__subclasses__\nb = 1\nc = b.__globals__\nd = c.__code__")
    assert body["status"] == "rejected"
    lines = [p["line"] for p in body["error"]["problems"]]
    assert lines == [1, 3, 4]
    assert body["error"]["message"].startswith("3 problems")


def test_underscore_bindings_cannot_shadow_guards(run):
    body = run("def f(_getattr_=None, /):\n    return 1\nf()")
    assert body["status"] == "rejected"
    assert "_getattr_" in body["error"]["message"]


def test_str_format_is_refused_with_the_f_string_alternative(run):
    body = run("'{0}'.format(1)")
    assert body["status"] == "error"
    assert "f-string" in body["error"]["message"]


def test_system_exit_is_an_error_not_a_crash(run):
    body = run("raise SystemExit(3)")
    assert body["status"] == "error"
    assert body["error"]["type"] == "SystemExit"
