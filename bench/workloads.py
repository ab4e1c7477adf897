"""The scripts every runtime runs, so each row of a table measures the same work."""

from __future__ import annotations

TRIVIAL = "x = 1 + 1"


def loop(n: int) -> str:
    return f"""
total = 0
for i in range({n}):
    total = total + (i * 3) % 7
total
"""


def fib(n: int) -> str:
    return f"""
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)
fib({n})
"""


def dict_sort(n: int) -> str:
    return f"""
d = {{}}
for i in range({n}):
    d["key-" + str((i * 7919) % {n})] = i
keys = sorted(d)
len(keys)
"""


def json_roundtrip(n: int) -> str:
    return f"""
import json
rows = [{{"id": i, "name": "item" + str(i), "even": i % 2 == 0}} for i in range({n})]
back = json.loads(json.dumps(rows))
len(back)
"""


def fib_calls(n: int) -> int:
    a, b = 1, 1  # calls(0) = calls(1) = 1; calls(n) = 1 + calls(n-1) + calls(n-2)
    for _ in range(n - 1):
        a, b = b, 1 + a + b
    return b if n >= 1 else 1


# (name, label, script builder, full size, work units of a size)
CPU_BOUND = [
    ("loop", "1M-iteration arithmetic loop", loop, 1_000_000, lambda n: n),
    ("fib", "fib(22), recursive", fib, 22, fib_calls),
    ("dict", "dict of 100k string keys, built and sorted", dict_sort, 100_000, lambda n: n),
    ("json", "list comprehension of 50k dicts + JSON round trip", json_roundtrip, 50_000,
     lambda n: n),
]  # fmt: skip


def trivial_target() -> None:
    """The forkserver peer's per-run function (importable, so the forkserver can load it)."""
    x = 1 + 1
    del x
