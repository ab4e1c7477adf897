"""Terrarium for agents that speak MCP: the `execute` and `search_docs` tools.

`build_mcp_server(executions, tenant_of)` makes the MCP server, served over stdio
(`terrarium mcp`, stdio.py) and over streamable HTTP at `/mcp` (http.py). `execute` is
`POST /v1/execute` by another name: the executions service runs and records it for the tenant
`tenant_of` names, and its errors read from the one error table. Its description, like
`search_docs`, is generated from the client surface table.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import mcp_types as types
from mcp.server import Server
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from client_surface.docs import search_docs, surface_body, surface_markdown
from client_surface.table import SURFACE
from runtime.adapters.errors import report
from runtime.adapters.mcp.media import media_blocks
from runtime.executions.outcome import ExecuteResponse
from runtime.executions.request import ExecutionRequest, LimitRequest
from runtime.executions.service import Executions
from runtime.executions.webhooks import MAX_URL_CHARS
from runtime.settings import Settings
from runtime.tenancy.tenants import Tenant
from sandbox.facades import ALLOWED_MODULES

log = logging.getLogger("terrarium.mcp")

SERVER_NAME = "terrarium"
TEXT_RESULT_CHARS = 4000  # the result's JSON in the text rendering, at most
TEXT_STDOUT_CHARS = 4000

INSTRUCTIONS = """\
Terrarium runs Python scripts against the FLORA API (generations, techniques, projects).
- Write the whole task as one script and send it with `execute`: chain the calls, loop, poll
  and branch in code instead of making one tool call per API request. Return only what you need.
- If the result is an error, read it (line, source line, message, hint), fix the code and
  run it again. A `rejected` script did not run at all and made no calls.
- Nothing persists between `execute` calls: no variables, no files. Pass ids along yourself.
- Use `search_docs` to read the arguments and return fields of the methods you need.
"""


# ---------------------------------------------------------------- tool descriptions


def execute_description(settings: Settings) -> str:
    """The `execute` tool's description: how to write a script, the limits, then the surface as
    `GET /v1/surface` renders it (one signature line per method, the rules, the objects)."""
    modules = ", ".join(sorted(ALLOWED_MODULES))
    return f"""\
Run a Python script in a fresh sandbox with `client`, a FLORA API client. Returns the result, \
what was printed, and every API call made. Do the whole task in one script.

```python
import asyncio

async def run(client):
    ws = (await client.workspaces.list()).workspaces[0]
    gen = await client.generations.create(type="image", prompt="a fox", \
workspace_id=ws.workspace_id, project_id=...)
    while (run := await client.generations.retrieve(gen.run_id)).status not in ("completed", \
"failed"):
        await asyncio.sleep(0.5)
    print(run.status)
    return run.outputs[0].url
```
- `async def run(client)` with `await`, or plain `def run(client)` without; or top-level \
statements. Returned: `run`'s return value (or the last expression) as JSON; stdout is captured.
- Imports allowed: {modules}. No files, no network except `client`.
- Limits: {settings.timeout_s:g} s wall clock by default (`timeout_s` up to \
{settings.max_timeout_s:g}), {settings.memory_mb} MB memory, {settings.max_calls} client \
calls, {settings.stdout_bytes // 1024} KB stdout, {settings.result_bytes // 1024} KB result.
- Calls are checked before the script runs: a wrong method or argument rejects the script with \
every problem listed and nothing executed.

{surface_body()}"""


SEARCH_DESCRIPTION = (
    "Search the FLORA client's docs. Returns the matching `client.*` methods with their "
    "arguments (types, enums, which are required), return fields and an example, so you load "
    "only what you need. Query with words, e.g. 'generate image', 'technique run status'; "
    "'*' returns the whole surface."
)


class ExecuteArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str = Field(description="The Python script (see the tool description).")
    intent: str | None = Field(
        default=None, max_length=2000, description="One line: what the script is for."
    )
    timeout_s: float | None = Field(
        default=None, gt=0, description="Wall-clock limit in seconds for this script."
    )
    inputs: dict[str, Any] | None = Field(default=None, description="JSON, read as `inputs`.")
    max_cost_usd: float | None = Field(
        default=None, ge=0, description="Most USD its paid calls may cost."
    )
    idempotency_key: str | None = Field(
        default=None, max_length=200, description="Retry with the same key: no second run."
    )

    def request(self) -> ExecutionRequest:
        return ExecutionRequest(
            self.code, inputs=self.inputs, intent=self.intent,
            limits=LimitRequest(timeout_s=self.timeout_s), max_cost_usd=self.max_cost_usd,
            idempotency_key=self.idempotency_key, transport="mcp",
        )  # fmt: skip


class SearchArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str = Field(description="Words to look for, e.g. 'generate image'; '*' for all.")
    limit: int = Field(default=5, ge=1, le=20, description="Most methods to return.")


class SearchResult(BaseModel):
    query: str
    methods: list[dict[str, Any]]


def _input_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


def tool_list(settings: Settings) -> list[types.Tool]:
    return [
        types.Tool(
            name="execute",
            title="Run a FLORA script",
            description=execute_description(settings),
            input_schema=_input_schema(ExecuteArgs),
            output_schema=ExecuteResponse.model_json_schema(),
            annotations=types.ToolAnnotations(
                read_only_hint=False, destructive_hint=False, open_world_hint=True
            ),
        ),
        types.Tool(
            name="search_docs",
            title="Search the FLORA client docs",
            description=SEARCH_DESCRIPTION,
            input_schema=_input_schema(SearchArgs),
            output_schema=SearchResult.model_json_schema(),
            annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
        ),
    ]


# ---------------------------------------------------------------- text renderings


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters; see structured content)"


def calls_summary(calls: list[dict[str, Any]]) -> str:
    """One line: the methods called in order (repeats folded), and any that failed."""
    if not calls:
        return "no client calls"
    groups: list[list[Any]] = []
    for call in calls:
        if groups and groups[-1][0] == call.get("method"):
            groups[-1][1] += 1
        else:
            groups.append([call.get("method"), 1])
    parts = [f"{name} x{count}" if count > 1 else str(name) for name, count in groups]
    failed = [c for c in calls if c.get("status") != "ok"]
    line = f"{len(calls)} call{'s' if len(calls) != 1 else ''}: {', '.join(parts)}"
    if failed:
        first = failed[0]
        line += (
            f"; {len(failed)} failed (first: {first.get('method')} "
            f"{first.get('http_status') or ''} {first.get('error_code') or ''})".replace("  ", " ")
        )
    return _clip(line, 600)


def error_text(status: str, error: dict[str, Any] | None) -> str:
    """The agent-facing error: where, what, the source line and the hint; every problem."""
    if not error:
        return f"The script ended with status {status}."
    problems = error.get("problems") or []
    if status == "rejected" and problems:
        lines = [f"Rejected before running (no calls were made): {len(problems)} problem(s)."]
        for p in problems:
            where = f"line {p.get('line')}: " if p.get("line") else ""
            lines.append(f"- {where}{p.get('message')}")
            if p.get("source"):
                lines.append(f"    {p['source']}")
            if p.get("hint"):
                lines.append(f"    hint: {p['hint']}")
        return "\n".join(lines)
    where = f" at line {error['line']}" if error.get("line") else ""
    lines = [f"{error.get('type', 'Error')}{where}: {error.get('message', '')}"]
    if error.get("source"):
        lines.append(f"    {error['source']}")
    if error.get("hint"):
        lines.append(f"hint: {error['hint']}")
    return "\n".join(lines)


def render_text(body: dict[str, Any]) -> str:
    """A short rendering of an execution for clients that read only text content."""
    status = body.get("status", "error")
    lines = [f"status: {status} ({body.get('duration_ms', 0):.0f} ms)"]
    if body.get("execution_id"):
        cost = f", cost ${body['cost_usd']:.4f}" if body.get("cost_usd") else ""
        lines.append(f"execution_id: {body['execution_id']}{cost}")
    if status == "ok":
        encoded = json.dumps(body.get("result"), ensure_ascii=False, indent=1)
        lines.append("result:\n" + _clip(encoded, TEXT_RESULT_CHARS))
    else:
        lines.append("error:\n" + error_text(status, body.get("error")))
    stdout = body.get("stdout") or ""
    if stdout:
        more = " (truncated)" if body.get("stdout_truncated") else ""
        lines.append(f"stdout{more}:\n" + _clip(stdout.rstrip("\n"), TEXT_STDOUT_CHARS))
    lines.append(calls_summary(body.get("calls") or []))
    for warning in body.get("warnings") or []:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def _text(text: str) -> list[types.TextContent]:
    return [types.TextContent(type="text", text=text)]


def _failure(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=_text(text), is_error=True)


Args = TypeVar("Args", bound=BaseModel)
Answer = TypeVar("Answer")


def _invalid(exc: ValidationError) -> types.CallToolResult:
    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return _failure(f"Invalid arguments: {problems}")


def _arguments(
    model: type[Args], arguments: dict[str, Any], tenant: Tenant | None
) -> tuple[Args, Tenant] | types.CallToolResult:
    """A tool's arguments and its tenant, or the failure the agent reads instead."""
    try:
        args = model.model_validate(arguments)
    except ValidationError as exc:
        return _invalid(exc)
    if tenant is None:
        return _failure("unauthorized: no tenant for this request")
    return args, tenant


async def _served(tool: str, work: Awaitable[Answer]) -> Answer | types.CallToolResult:
    """What the service answered, or its refusal through the one error table."""
    try:
        return await work
    except Exception as exc:  # the service settles the execution; the agent gets an answer
        error = report(exc)
        if error.status == 500:
            log.exception("mcp %s failed", tool)
        return _failure(error.text())


async def _tool(
    tool: str,
    model: type[Args],
    arguments: dict[str, Any],
    tenant: Tenant | None,
    work: Callable[[Args, Tenant], Awaitable[dict[str, Any]]],
) -> tuple[Args, dict[str, Any]] | types.CallToolResult:
    """A tool's arguments and what the service answered for them, or the failure the agent
    reads instead (invalid arguments, no tenant, or the service's refusal)."""
    parsed = _arguments(model, arguments, tenant)
    if isinstance(parsed, types.CallToolResult):
        return parsed
    args, tenant = parsed
    answer = await _served(tool, work(args, tenant))
    if isinstance(answer, types.CallToolResult):
        return answer
    return args, answer


# ---------------------------------------------------------------- tools


async def call_execute(
    executions: Executions, arguments: dict[str, Any], tenant: Tenant | None
) -> types.CallToolResult:
    """Run the script for `tenant` as `POST /v1/execute` does (limits, admission, record)."""
    done = await _tool(
        "execute", ExecuteArgs, arguments, tenant, lambda a, t: executions.run(t, a.request())
    )
    if isinstance(done, types.CallToolResult):
        return done
    args, body = done
    if args.intent:
        log.info("mcp execute %s (%s): %s", body["execution_id"], body["status"], args.intent)
    content: list[types.ContentBlock] = [*_text(render_text(body))]
    if body["status"] == "ok":
        content.extend(await media_blocks(executions, body.get("result")))
    return types.CallToolResult(
        content=content, structured_content=body, is_error=body["status"] != "ok"
    )


# ---------------------------------------------------------------- async executions: submit, poll

SUBMIT_DESCRIPTION = (
    "`execute`'s arguments, queued: returns an `execution_id` at once. For long scripts; poll "
    "`get_execution` until its state is done or failed."
)
GET_DESCRIPTION = (
    "An execution by id (from `submit`, or any `execute` answer): its state, and once done the "
    "same answer as `execute` (result, calls with their run ids, error)."
)


class SubmitArgs(ExecuteArgs):
    webhook_url: str | None = Field(
        default=None, max_length=MAX_URL_CHARS,
        description="https URL to POST the execution's record to when it ends (signed).",
    )  # fmt: skip

    def request(self) -> ExecutionRequest:
        return dataclasses.replace(super().request(), webhook_url=self.webhook_url)


class GetArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")

    execution_id: str = Field(description="The execution's id (`exe_...`).", max_length=80)


def async_tools() -> list[types.Tool]:
    return [
        types.Tool(
            name="submit",
            title="Queue a FLORA script",
            description=SUBMIT_DESCRIPTION,
            input_schema=_input_schema(SubmitArgs),
            annotations=types.ToolAnnotations(
                read_only_hint=False, destructive_hint=False, open_world_hint=True
            ),
        ),
        types.Tool(
            name="get_execution",
            title="Read an execution",
            description=GET_DESCRIPTION,
            input_schema=_input_schema(GetArgs),
            annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
        ),
    ]


async def call_submit(
    executions: Executions, arguments: dict[str, Any], tenant: Tenant | None
) -> types.CallToolResult:
    """`POST /v1/executions` by another name: queued, answered with its id."""
    done = await _tool(
        "submit", SubmitArgs, arguments, tenant, lambda a, t: executions.submit(t, a.request())
    )
    if isinstance(done, types.CallToolResult):
        return done
    _, queued = done
    text = f"execution_id: {queued['execution_id']} ({queued['state']}); poll it with get_execution"
    return types.CallToolResult(content=_text(text), structured_content=queued)


async def call_get(
    executions: Executions, arguments: dict[str, Any], tenant: Tenant | None
) -> types.CallToolResult:
    """`GET /v1/executions/{id}` by another name, for the same tenant."""
    done = await _tool(
        "get_execution", GetArgs, arguments, tenant,
        lambda a, t: executions.get(t, a.execution_id),
    )  # fmt: skip
    if isinstance(done, types.CallToolResult):
        return done
    _, record = done
    if record["state"] not in ("done", "failed"):
        text = f"execution_id: {record['execution_id']}: {record['state']}; poll again"
        return types.CallToolResult(content=_text(text), structured_content=record)
    content: list[types.ContentBlock] = [
        *_text(f"state: {record['state']}\n" + render_text(record))
    ]
    if record.get("status") == "ok":
        content.extend(await media_blocks(executions, record.get("result")))
    return types.CallToolResult(
        content=content, structured_content=record, is_error=record.get("status") != "ok"
    )


def call_search_docs(arguments: dict[str, Any]) -> types.CallToolResult:
    try:
        args = SearchArgs.model_validate(arguments)
    except ValidationError as exc:
        return _invalid(exc)
    if args.query.strip() in ("*", "all"):
        methods = [{"method": m.full_name, "summary": m.summary} for m in SURFACE]
        return types.CallToolResult(
            content=_text(surface_markdown()),
            structured_content=SearchResult(query=args.query, methods=methods).model_dump(),
        )
    hits = search_docs(args.query, args.limit)
    if not hits:
        names = ", ".join(m.full_name for m in SURFACE)
        text = f"No method matches {args.query!r}. The methods are: {names}."
    else:
        text = "\n".join(hit["doc"] for hit in hits)
    methods = [{k: hit[k] for k in ("method", "summary", "score", "doc")} for hit in hits]
    return types.CallToolResult(
        content=_text(text),
        structured_content=SearchResult(query=args.query, methods=methods).model_dump(),
    )


# ---------------------------------------------------------------- cancel

CANCEL_DESCRIPTION = (
    "Cancel an execution that is still queued or running (one started by `execute`, or an "
    "asynchronous one): its process is killed and it is recorded with status `cancelled`. "
    "Returns the execution's record. An execution that has ended cannot be cancelled."
)


class CancelArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")

    execution_id: str = Field(description="The execution's id (`exe_...`).", max_length=80)


def cancel_tool() -> types.Tool:
    return types.Tool(
        name="cancel",
        title="Cancel an execution",
        description=CANCEL_DESCRIPTION,
        input_schema=_input_schema(CancelArgs),
        annotations=types.ToolAnnotations(
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )


async def call_cancel(
    executions: Executions, arguments: dict[str, Any], tenant: Tenant | None
) -> types.CallToolResult:
    """`DELETE /v1/executions/{id}` by another name, for the same tenant."""
    done = await _tool(
        "cancel", CancelArgs, arguments, tenant, lambda a, t: executions.cancel(t, a.execution_id)
    )
    if isinstance(done, types.CallToolResult):
        return done
    _, record = done
    text = f"execution {record['execution_id']}: {record['state']}, status {record['status']}"
    if record.get("message"):  # asked of the replica that runs it, which has not stopped it yet
        text += f"; {record['message']}"
    return types.CallToolResult(content=_text(text), structured_content=record)


TenantOf = Callable[[Any], Tenant | None]  # the request context -> the tenant it acts for


def build_mcp_server(executions: Executions, tenant_of: TenantOf) -> Server:
    """The MCP server with Terrarium's two tools; `executions` must be started by the caller."""
    tools = [*tool_list(executions.settings), *async_tools(), cancel_tool()]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        arguments = params.arguments or {}
        if params.name == "execute":
            return await call_execute(executions, arguments, tenant_of(ctx))
        if params.name == "search_docs":
            return call_search_docs(arguments)
        if params.name == "cancel":
            return await call_cancel(executions, arguments, tenant_of(ctx))
        if params.name == "submit":
            return await call_submit(executions, arguments, tenant_of(ctx))
        if params.name == "get_execution":
            return await call_get(executions, arguments, tenant_of(ctx))
        names = ", ".join(tool.name for tool in tools)
        return _failure(f"Unknown tool {params.name!r}; the tools are {names}.")

    return Server(
        SERVER_NAME,
        version="0.1.0",
        title="Terrarium",
        description="Run Python scripts against the FLORA API in a sandbox.",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
