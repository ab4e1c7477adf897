"""Format strings as attribute walkers: str.format, format_map, f-strings, string.Formatter."""

from __future__ import annotations

import pytest
from security_helpers import assert_no_effect

PAYLOADS = {
    "format_class": "'{0.__class__}'.format(1)",
    "format_globals": "def f():\n    pass\n'{0.__globals__}'.format(f)",
    "format_getattr": "getattr('{0.__class__.__base__}', 'format')(1)",
    "format_via_type": "getattr(type(''), 'format')('{0.__class__}', 1)",
    "format_map": "'{x.__class__.__mro__}'.format_map({'x': 1})",
    "format_str_subclass": "class S(str):\n    pass\nS('{0.__class__}').format(1)",
    "format_map_via_map": "list(map(getattr, ['{0.__class__}'], ['format']))",
    "fstring_dunder": "x = 1\nf'{getattr(x.__class__, \"__subclasses__\")}'",
    "fstring_nested_spec": "x = 1\nf'{x:{x.__class__}}'",
    "string_formatter": "import string\nstring.Formatter().format('{0.__class__}', 1)",
    # string.Template is allowed (it reads mapping keys only): its attribute-walk variants are
    # in test_relaxations_modules.py::test_string_template_substitutes_keys_only.
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_format_strings_walk_nothing(server, name):
    body = server.execute(PAYLOADS[name])
    assert body["status"] in ("rejected", "error"), body
    assert "<class" not in str(body["result"])
    assert_no_effect(body)


def test_format_builtin_and_percent_only_format_values(server):
    body = server.execute("x = 255\n[format(x, 'x'), '%s-%d' % ('a', 1), f'{x!r:>5}']")
    assert body["result"] == ["ff", "a-1", "  255"]
