"""The modules relaxation: more facades, and imports outside the allow-list that fail when they
run. Each test pairs the allowed form with the attack family it could open, carried to what it
would reach (a real module, `sys`, a function's globals, code built from a string)."""

from __future__ import annotations

import pytest
from security_helpers import assert_no_effect
from test_os_layers import LIMITS, attempt, refused


def ok(server, code: str):
    body = server.execute(code)
    assert body["status"] == "ok", body
    return body["result"]


def no_escape(server, code: str) -> dict:
    body = server.execute(code)
    assert body["status"] in ("rejected", "error"), body
    assert_no_effect(body)
    return body


# --- imports outside the allow-list: caught, never a real module ----------------------------
def test_refused_import_is_a_catchable_import_error_and_a_warning(server):
    body = server.execute(
        "try:\n    import os\nexcept ImportError as e:\n    os = None\n"
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import subprocess\nos"
    )
    assert body["status"] == "ok" and body["result"] is None, body
    assert any("'os' is not allowed" in w for w in body["warnings"])
    assert any("'subprocess' is not allowed" in w for w in body["warnings"])


@pytest.mark.parametrize(
    "code",
    [
        "import os\nos.getpid()",
        "import os.path\nos.path",
        "from os import system\nsystem('true')",
        "import sys\nsys.modules",
        "from . import x",
        "from .json import loads",
        "import importlib\nimportlib.import_module('os')",
        "__import__('os')",
        "from json import decoder\ndecoder",  # a member the facade does not hold
        "from urllib import request\nrequest",  # nor does the urllib package facade
        "import urllib\nurllib.request",
        "from collections import _collections_abc\n_collections_abc",
        "try:\n    import os\nexcept ImportError:\n    pass\nos.system('true')",
    ],
)
def test_refused_imports_reach_no_real_module(server, code):
    text = str(no_escape(server, code))
    # a real module's repr names where it came from; a facade's does not
    assert "from '/" not in text and "(frozen)" not in text and "(built-in)" not in text


def test_star_import_stays_refused_at_compile_time(server):
    body = server.execute("from math import *\npi")
    assert body["status"] == "rejected"


def test_import_name_strings_must_be_exact_str(server):
    # A str subclass cannot pose as an allowed name (nor crash the import).
    no_escape(server, "class S(str):\n    pass\n__import__(S('json'))")
    no_escape(server, "import json\ngetattr(json, '__name__')")


# --- operator: attrgetter / methodcaller walk attributes only through the guard -------------
@pytest.mark.parametrize(
    "code",
    [
        "import operator\noperator.attrgetter('__class__.__subclasses__')(1)",
        "import operator\noperator.attrgetter('real.__class__.__subclasses__')(1)",
        "def f():\n    pass\nimport operator\noperator.attrgetter('__globals__')(f)",
        "def g():\n    yield 1\nimport operator\noperator.attrgetter('gi_frame.f_globals')(g())",
        "import operator\noperator.methodcaller('format', 1)('{0.__class__}')",
        "import operator\noperator.methodcaller('format_map', {})('{x}')",
        "import operator\noperator.methodcaller('__reduce_ex__', 2)(client)",
        "import operator\nclass S(str):\n    pass\noperator.attrgetter(S('x'))(1)",
        "import operator, json\noperator.setitem(json, 'loads', None)",
        "import operator\nlist(map(operator.attrgetter('__globals__'), [len]))",
    ],
)
def test_operator_walkers_obey_the_attribute_guard(server, code):
    no_escape(server, code)


def test_operator_allowed_forms_work(server):
    result = ok(
        server,
        "import operator\nclass P:\n    def __init__(self, n, a):\n        self.n, self.a = n, a\n"
        "    def up(self, k):\n        return self.n.upper() * k\n"
        "ps = [P('b', 2), P('a', 1)]\n"
        "[[p.n for p in sorted(ps, key=operator.attrgetter('a'))],"
        " operator.attrgetter('n', 'a')(ps[0]), operator.methodcaller('up', 2)(ps[1]),"
        " operator.itemgetter(1)([5, 6]), operator.add(1, 2)]",
    )
    assert result == [["a", "b"], ["b", 2], "AA", 6, 3]


# --- dataclasses: code is generated from field names; classes it may rewrite ----------------
@pytest.mark.parametrize(
    "code",
    [
        # field names are placed in generated source: a str subclass or a non-identifier
        "import dataclasses\nclass S(str):\n    def isidentifier(self):\n        return True\n"
        "dataclasses.make_dataclass('P', [S('x=print(1)) or (lambda: 0')])",
        "import dataclasses\ndataclasses.make_dataclass('P', ['x=1)\\n    import os\\n#'])",
        "import dataclasses\ndataclasses.make_dataclass('P', [('a b', int)])",
        # a namespace is a class body the policy never saw
        "import dataclasses\ndataclasses.make_dataclass('P', ['x'], "
        "namespace={'__repr__': lambda self: 'ESCAPED'})",
        # rewriting classes that are not the script's (trusted code in the child uses them)
        "import dataclasses, enum\ndataclasses.dataclass(enum.Enum)",
        "import dataclasses\ndataclasses.dataclass(client.__class__)",
        "import dataclasses\ndataclasses.dataclass(int)",
        "import dataclasses, json\ndataclasses.dataclass(json.JSONDecodeError)",
        # what a dataclass hands out: fields, not the generated functions' globals
        "import dataclasses\nP = dataclasses.make_dataclass('P', ['x'])\n"
        "getattr(P.__init__, '__globals__')",
        "import dataclasses\nP = dataclasses.make_dataclass('P', ['x'])\n"
        "dataclasses.fields(P)[0].type.__subclasses__()",
    ],
)
def test_dataclasses_build_no_code_and_rewrite_no_foreign_class(server, code):
    no_escape(server, code)


def test_dataclasses_allowed_forms_work(server):
    result = ok(
        server,
        "import dataclasses\n"
        "P = dataclasses.make_dataclass('P', ['x', ('y', int, dataclasses.field(default=3))],"
        " frozen=True, order=True)\n"
        "p = P(1)\n"
        "q = dataclasses.replace(p, y=4)\n"
        "[repr(p), dataclasses.asdict(q), p < q, [f.name for f in dataclasses.fields(P)],"
        " dataclasses.is_dataclass(p)]",
    )
    assert result == ["P(x=1, y=3)", {"x": 1, "y": 4}, True, ["x", "y"], True]


# --- enum: members, never the metaclass or the module ----------------------------------------
def test_enum_allowed_forms_work(server):
    result = ok(
        server,
        "from enum import Enum, IntEnum, auto\n"
        "class Color(Enum):\n    RED = auto()\n    GREEN = auto()\n"
        "    def label(self):\n        return self.name.lower()\n"
        "class Level(IntEnum):\n    LOW = 1\n    HIGH = 2\n"
        "[Color.RED.label(), Color(2).name, [c.name for c in Color], Level.HIGH > Level.LOW,"
        " Color['GREEN'].value, str(Color.RED)]",
    )
    assert result == ["red", "GREEN", ["RED", "GREEN"], True, 2, "Color.RED"]


@pytest.mark.parametrize(
    "code",
    [
        "import enum\nenum.EnumMeta",
        "import enum\nenum.sys",
        "import enum\nclass C(enum.Enum):\n    A = 1\n"
        "type(C)('X', (), {'__del__': lambda s: print('ESCAPED')})",
        "import enum\nclass C(enum.Enum):\n    A = 1\n"
        "C.__members__['A'].__class__.__subclasses__()",
        "import enum\nclass C(enum.Enum):\n    A = 1\ngetattr(C, '__mro__')[-2].__subclasses__()",
        "import enum\nenum.Enum.__new__",
    ],
)
def test_enum_reaches_nothing(server, code):
    no_escape(server, code)


# --- string.Template: mapping keys only ------------------------------------------------------
def test_string_template_substitutes_keys_only(server):
    assert ok(server, "import string\nstring.Template('$who: ${n}').substitute(who='a', n=1)") == (
        "a: 1"
    )
    # attribute and index paths are not placeholders, whatever the pattern
    for code in (
        "import string\nstring.Template('${x.__class__}').substitute(x=1)",
        "import string\nclass T(string.Template):\n    idpattern = r'[a-z_.]+'\n"
        "T('$x.__class__').substitute({'x': 1})",
        "import string\nclass T(string.Template):\n    braceidpattern = r'[^}]+'\n"
        "T('${x.__class__.__mro__}').substitute(x=1)",
        "import string\nstring.Formatter",
    ):
        body = no_escape(server, code)
        assert "<class" not in str(body.get("result"))


# --- the rest of the new facades: members only, no real module behind them --------------------
@pytest.mark.parametrize(
    "code",
    [
        "import decimal\ndecimal.sys",
        "import fractions\nfractions.math",
        "import fractions\nfractions.Decimal.__init_subclass__",
        "import pprint\npprint.PrettyPrinter",
        "import pprint\npprint.re",
        "import csv\ncsv.sys",
        "import csv\ncsv.register_dialect",
        "import io\nio.open('/etc/passwd')",
        "import io\nio.FileIO",
        "import urllib.parse\nurllib.parse.sys",
        "import urllib.parse\ngetattr(urllib.parse.quote, '__globals__')",
        "import zoneinfo\nzoneinfo.ZoneInfo('../../../etc/passwd')",
        "import zoneinfo\nzoneinfo.ZoneInfo.no_cache('Europe/Paris')",
        "import re\nre.Pattern.__subclasses__",
        "import re\nre._compiler",
        "import typing\ntyping.get_type_hints",
        "import typing\ntyping.sys",
        "import typing\nclass C:\n    x: 'print(\"ESCAPED\")'\ntyping.get_type_hints(C)",
        "import heapq\nheapq.sys",
        "import bisect\nbisect.insort.__self__",
        "import operator\noperator.attrgetter.__init__.__globals__",
    ],
)
def test_new_facades_hold_members_only(server, code):
    no_escape(server, code)


def test_pprint_writes_to_the_scripts_output_within_its_limit(server):
    body = server.execute("import pprint\nfor i in range(2000):\n    pprint.pprint('x' * 1000)")
    assert body["status"] in ("ok", "limit_exceeded"), body
    assert body["stdout"].startswith("'xxx") and body["stdout_truncated"], body["status"]


def test_new_facades_allowed_forms_work(server):
    result = ok(
        server,
        "import csv, io, heapq, bisect, pprint, re, string, typing\n"
        "from decimal import Decimal, ROUND_HALF_UP\nfrom fractions import Fraction\n"
        "from urllib.parse import urlencode, urlparse, parse_qs\nfrom zoneinfo import ZoneInfo\n"
        "import datetime\n"
        "buf = io.StringIO()\nw = csv.writer(buf)\nw.writerow(['a', 'b,c'])\n"
        "h = [3, 1, 2]\nheapq.heapify(h)\n"
        "[buf.getvalue(), list(csv.reader(io.StringIO(buf.getvalue()))), heapq.heappop(h),"
        " bisect.bisect([1, 2, 4], 3),"
        " str(Decimal('1.005').quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)),"
        " str(Fraction(1, 3) + Fraction(1, 6)), urlencode({'q': 'a b'}),"
        " parse_qs(urlparse('https://x.io/p?a=1&a=2').query),"
        " datetime.datetime(2024, 1, 1, tzinfo=ZoneInfo('UTC')).isoformat(),"
        " isinstance(re.match('a', 'a'), re.Match), pprint.pformat({'b': 1, 'a': 2}),"
        " string.Template('$x').substitute(x=1), typing.ClassVar is not None]",
    )
    assert result == [
        "a,\"b,c\"\r\n", [["a", "b,c"]], 1, 2, "1.01", "1/2", "q=a+b", {"a": ["1", "2"]},
        "2024-01-01T00:00:00+00:00", True, "{'a': 2, 'b': 1}", "1", True,
    ]  # fmt: skip


# --- with the policy layer gone, the OS layers still hold for what the facades load -----------
def test_zone_data_is_read_before_confinement_never_after(raw):
    # The facade's zones were read in the zygote; a raw child that asks the real zoneinfo for
    # another one (a file read) is refused by Landlock.
    result = raw.run(
        attempt(
            "import zoneinfo\nzoneinfo.ZoneInfo.clear_cache()\n"
            "result = str(zoneinfo.ZoneInfo('America/Halifax'))"
        ),
        LIMITS,
    )
    assert refused(result), result


def test_raw_child_writing_to_its_stdout_reaches_no_response(raw):
    # pprint's default stream is the process's stdout; the facade writes to the script's
    # output instead. A raw child writing to fd 1 directly sends nothing the host reads.
    result = raw.run("import sys\nsys.stdout.write('ESCAPED' * 10)\nresult = 1", LIMITS)
    assert "ESCAPED" not in str(result.stdout)
