"""Request and response bodies of the HTTP API, so the OpenAPI document is the real contract."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["ok", "error", "timeout", "rejected", "limit_exceeded"]


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        description="The script: `def run(client): ...`, async or not, or plain "
        "statements whose last expression is the result."
    )
    inputs: dict[str, Any] | None = Field(
        default=None, description="A JSON object available to the script as `inputs`."
    )
    timeout_s: float | None = Field(default=None, gt=0, description="Wall-clock limit, seconds.")
    cpu_s: float | None = Field(default=None, gt=0, description="CPU-time limit, seconds.")
    memory_mb: int | None = Field(default=None, gt=0, description="Memory the script may use.")
    max_calls: int | None = Field(default=None, gt=0, description="Most client calls allowed.")
    intent: str | None = Field(
        default=None, max_length=2000, description="What the script is for, kept with the record."
    )


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    message: str
    line: int | None = None
    source: str | None = None
    traceback: str | None = None
    hint: str | None = None


class CallRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    method: str
    arguments: dict[str, Any] = {}
    status: Literal["ok", "error"]
    http_status: int | None = None
    error_code: str | None = None
    ms: float


class ExecuteResponse(BaseModel):
    execution_id: str
    status: Status
    result: Any = None
    stdout: str = ""
    stdout_truncated: bool = False
    error: ErrorInfo | None = None
    calls: list[CallRecord] = []
    duration_ms: float = 0.0
    cpu_ms: float = 0.0
    warnings: list[str] = []


class ApiErrorBody(BaseModel):
    code: str
    message: str
    fields: list[dict[str, str]] = []


class ApiError(BaseModel):
    error: ApiErrorBody
