"""`python -m bench --quick` runs every section and writes its report (no timing is asserted)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_bench_writes_a_report(tmp_path: Path) -> None:
    pytest.importorskip("httpx")
    out = tmp_path / "benchmarks.md"
    subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=ROOT, check=True,
        timeout=280,
    )  # fmt: skip
    text = out.read_text()
    for section in ("## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6."):
        assert section in text
    assert "minimal keep-alive client" in text and "above the Python API p50" in text
    assert "| **total** | **n/a** |" not in text  # every process's CPU was read
