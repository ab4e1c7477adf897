"""The ways in: HTTP (`http/`), MCP (`mcp/`) and the command line (`cli/`). Each adapts its
transport to the executions service (runtime/executions/) and reads errors from one table
(`errors.py`); the service never imports an adapter."""
