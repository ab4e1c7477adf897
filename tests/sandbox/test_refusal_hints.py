"""Whatever the sandbox still refuses says how to rewrite it: a hint on every refusal, whether
the policy refuses the script's text or a guard refuses it when it runs."""

from __future__ import annotations

import pytest

from sandbox import runner
from sandbox.limits import Limits
from sandbox.messages import Reply, Run
from sandbox.surface import SurfaceSpec

SPEC = SurfaceSpec.from_json({})

REFUSED = {
    # refused when the script runs
    "import_os": "import os",
    "import_requests": "import requests",
    "relative_import": "from . import x",
    "str_format": "'{}'.format(1)",
    "format_map": "getattr('{x}', 'format_map')",
    "subclasses": "getattr(object, '__subclasses__')",
    "dunder_of_builtin": "getattr(1, '__reduce_ex__')",
    "private_of_builtin": "import json\ngetattr(json, '_default_decoder')",
    "frame_attr": "def f():\n    pass\ngetattr(f, 'f_globals')",
    "attribute_error_obj": "try:\n    (1).nope\nexcept AttributeError as e:\n    e.obj",
    "write_builtin_class": "int.x = 1",
    "write_facade": "import json\njson.x = 1",
    "setattr_dunder": "class X:\n    pass\nsetattr(X, '__class__', dict)",
    "type_namespace": "type('X', (), {'__del__': print})",
    "sealed_type": "import asyncio\nasync def c():\n    pass\ntype(c())()",
    "recursion_cap": "import sys\nsys.setrecursionlimit(10**6)",
    "open": "open('/etc/passwd')",
    "eval_name": "e = eval\ne('1')",
    # refused in the script's text
    "dunder_attribute": "x = (1).__class__.__bases__",
    "dunder_store": "class X:\n    pass\nX.__class__ = dict",
    "reserved_name": "_getattr_ = 1",
    "dunder_name": "__builtins__",
    "star_import": "from json import *",
    "exec_call": "exec('1')",
    "class_body_hook": "class X:\n    def __getattribute__(self, n):\n        return 1",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_every_refusal_says_how_to_rewrite(name: str) -> None:
    code = REFUSED[name]
    request = Run(op="run", code=code, inputs={}, limits=Limits(), host_functions=[])
    state = runner.RunState(code, request.limits)
    done = runner.execute(request, SPEC, lambda n, p: Reply(id=0, ok=True), state)
    assert done.status in ("error", "rejected"), done
    assert done.error is not None
    hints = [p.hint for p in done.error.problems] if done.error.problems else [done.error.hint]
    assert hints and all(hints), (done.error.message, hints)
