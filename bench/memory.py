"""Private (USS) and proportional (PSS) memory of processes, from /proc/<pid>/smaps_rollup; and
the CPU ticks of processes and of the whole machine, from /proc, to tell a figure's own cost from
the rest of the machine's load in the same window."""

from __future__ import annotations

import os


def rollup(pid: int) -> dict[str, int]:
    """kB figures: rss, pss, uss (Private_Clean + Private_Dirty); empty if the pid is gone."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                    out[parts[0][:-1]] = int(parts[1])
    except OSError:
        return {}
    return {
        "rss": out.get("Rss", 0),
        "pss": out.get("Pss", 0),
        "uss": out.get("Private_Clean", 0) + out.get("Private_Dirty", 0),
    }


def descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def children(pid: int) -> list[int]:
    """The direct children of `pid`, from one file per thread (not a walk of all of /proc)."""
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(p) for p in fh.read().split())
    except OSError:
        pass
    return out


def process_ticks(pid: int) -> int:
    """Clock ticks of CPU `pid` used, its reaped children's included (utime, stime, cutime,
    cstime); 0 if the pid is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(f) for f in fields[11:15])


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every CPU since boot, from /proc/stat's first line (idle and
    iowait are not busy)."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    total = sum(values[:8])  # guest time is counted inside user time already
    return total - values[3] - values[4], total
