"""The `terrarium` command: serve, exec, keys, and the operator tools added alongside.

terrarium serve [--host H] [--port P]   the runtime on its embedded default (or FLORA_API_KEY)
terrarium exec FILE|-                   run one script through the same sandbox, print JSON
terrarium mcp                           serve MCP over stdio (execute, search_docs) for an agent
terrarium tenants create|list|update|revoke   tenants (name, limits, workspaces)
terrarium keys create|list|revoke|rotate      tenants' runtime keys (`keys create` without
                                              --tenant: another key of the built-in backend)
terrarium selftest                      probe every OS isolation layer with live attacks
terrarium config                        the effective settings, by variable, secrets masked
terrarium --version

Exit codes: 0 done; 1 the script failed (exec) or a probe was not held (selftest); 2 the
command could not start (configuration, a missing file, a busy port, a refused request).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from runtime.adapters.cli.config import ConfigError, effective, load
from runtime.settings import Settings

CANNOT_START = 2


def version() -> str:
    try:
        return metadata.version("terrarium")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown"


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port), as uvicorn would bind it; OSError if it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from runtime.app import create_app
    from runtime.infra import logs

    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    if "backend_public_url" not in settings.model_fields_set:
        settings.backend_public_url = f"http://{settings.host}:{settings.port}"
    # The port first: when it is taken, one line and nothing else (no "listening", no key).
    try:
        sock = bind(settings.host, settings.port)
    except OSError as exc:
        print(
            f"terrarium serve: cannot listen on {settings.host}:{settings.port}: "
            f"{exc.strerror or exc} (choose another with --port or TERRARIUM_PORT)",
            file=sys.stderr,
        )
        return CANNOT_START
    logs.configure(settings.log_format)
    from runtime.adapters.http.serving import OneSendProtocol, batch_log_lines

    batch_log_lines(logging.getLogger("terrarium"))  # lines logged on the loop written together
    app = create_app(settings)
    app.state.announce = f"http://{settings.host}:{settings.port}"  # printed once started
    from runtime.adapters.cli.drain import DrainingServer

    server = DrainingServer(
        # httptools and uvloop (installed with the runtime), each turn's writes in one send;
        # no uvicorn access log: the door writes the runtime's own (runtime/adapters/http/door.py)
        uvicorn.Config(
            app, log_level="warning", http=OneSendProtocol, loop="uvloop", access_log=False
        ),
        app.state.executions,
        settings.drain_s,
    )
    with sock:
        server.run(sockets=[sock])
    return 0 if server.started else CANNOT_START


async def _exec(code: str, settings: Settings) -> dict[str, Any]:
    """Run `code` as the default tenant, recorded like any other execution."""
    from runtime.executions.request import ExecutionRequest
    from runtime.executions.service import Executions

    executions = Executions(settings)
    await executions.start()
    try:
        assert executions.default_tenant is not None
        return await executions.run(
            executions.default_tenant, ExecutionRequest(code, transport="cli")
        )
    finally:
        await executions.stop()


def _exec_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from runtime.adapters.errors import TRANSLATED, report

    try:
        source = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    except FileNotFoundError:
        print(f"terrarium exec: no such file: {args.file}", file=sys.stderr)
        return CANNOT_START
    except IsADirectoryError:
        print(f"terrarium exec: {args.file} is a directory, not a script", file=sys.stderr)
        return CANNOT_START
    except PermissionError:
        print(f"terrarium exec: {args.file} cannot be read (permission denied)", file=sys.stderr)
        return CANNOT_START
    except UnicodeDecodeError as exc:
        print(f"terrarium exec: {args.file} is not UTF-8 text (byte {exc.start})",
              file=sys.stderr)  # fmt: skip
        return CANNOT_START
    try:
        body = asyncio.run(_exec(source, settings))
    except TRANSLATED as exc:
        error = report(exc)
        print(json.dumps({"error": {"code": error.code, "message": error.message}}),
              file=sys.stderr)  # fmt: skip
        return 2
    print(json.dumps(body, indent=2))
    return 0 if body["status"] == "ok" else 1


def _selftest(args: argparse.Namespace, settings: Settings) -> int:
    from sandbox import selftest

    return selftest.main()


def _mcp(args: argparse.Namespace, settings: Settings) -> int:
    from runtime.adapters.mcp.stdio import serve_stdio

    asyncio.run(serve_stdio(settings))
    return 0


def _config(args: argparse.Namespace, settings: Settings) -> int:
    rows = effective(settings)
    width = max(len(variable) for variable, _, _ in rows)
    for variable, value, from_env in rows:
        source = "" if from_env else "  (default)"
        print(f"{variable:<{width}}  {value}{source}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="terrarium", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"terrarium {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    config = sub.add_parser(
        "config", help="print the effective settings by environment variable, secrets masked"
    )
    config.set_defaults(func=_config)
    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=_serve)
    exe = sub.add_parser("exec", help="run one script and print the result as JSON")
    exe.add_argument("file", help="a script file, or - for standard input")
    exe.set_defaults(func=_exec_cmd)
    mcp = sub.add_parser("mcp", help="serve MCP over stdio, for desktop and coding agents")
    mcp.set_defaults(func=_mcp)
    check = sub.add_parser(
        "selftest", help="probe the sandbox's OS layers; exit 1 if any probe is not held"
    )
    check.set_defaults(func=_selftest)
    from runtime.adapters.cli import keys, tenants

    tenants.add_parser(sub)
    keys.add_parser(sub)
    from runtime.adapters.cli import records

    records.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load()
    except ConfigError as exc:
        for line in exc.lines:
            print(f"terrarium: {line}", file=sys.stderr)
        return CANNOT_START
    return int(args.func(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
