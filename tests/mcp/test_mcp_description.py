"""The `execute` tool's description is generated from the table and the settings, and stays
small; the text renderings say what an agent needs."""

from __future__ import annotations

from client_surface.docs import surface_body
from client_surface.table import METHODS
from runtime.adapters.mcp.tools import INSTRUCTIONS, calls_summary, execute_description, render_text
from runtime.settings import Settings
from sandbox.facades import ALLOWED_MODULES

# The description is the script form, the limits and the allowed modules (about 1,500
# characters), then the surface exactly as GET /v1/surface renders it, whose own budget is
# 160 characters per method (tests/client_surface/test_cs_docs.py says why).
PREAMBLE_CHARS = 1500
CHARS_PER_METHOD = 160


def signature_lines(text: str) -> dict[str, str]:
    return {line.split("(", 1)[0]: line for line in text.splitlines() if "(" in line}


def test_description_is_small_and_derived():
    settings = Settings(timeout_s=12, max_timeout_s=90, memory_mb=128, max_calls=50)
    text = execute_description(settings)
    assert len(text) <= PREAMBLE_CHARS + CHARS_PER_METHOD * len(METHODS), len(text)
    assert "async def run(client)" in text
    assert "12 s" in text and "up to 90" in text and "128 MB" in text and "50 client" in text
    assert all(name in text for name in ALLOWED_MODULES)
    assert surface_body() in text
    lines = signature_lines(text)
    for m in METHODS:
        required = [n for n, f in m.args.model_fields.items() if f.is_required()]
        assert all(name in lines[m.full_name] for name in required), m.full_name
    assert (
        "generations.create(*, type, prompt, workspace_id, project_id, model?, params?, "
        "callback_url?) -> RunStart"
    ) in text
    assert "APIError" in text and "NotFoundError" in text and "camelCase" in text
    assert "one script" in INSTRUCTIONS and "persists" in INSTRUCTIONS


def test_text_rendering_truncates_and_summarizes():
    calls = [{"method": "generations.create", "status": "ok"}] * 3 + [
        {"method": "generations.retrieve", "status": "error", "http_status": 404,
         "error_code": "not_found"}
    ]  # fmt: skip
    body = {"status": "ok", "result": "x" * 20_000, "stdout": "hello\n", "calls": calls}
    text = render_text(body)
    assert len(text) < 5000
    assert "more characters" in text and "hello" in text
    assert calls_summary(calls) == (
        "4 calls: generations.create x3, generations.retrieve; 1 failed "
        "(first: generations.retrieve 404 not_found)"
    )
