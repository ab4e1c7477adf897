"""The MCP adapter: the tools (`tools.py`), over stdio (`stdio.py`) and streamable HTTP
(`http.py`)."""
