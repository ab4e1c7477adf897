"""The HTTP adapter: routers by concern, typed dependencies (`deps.py`), request bodies
(`schemas.py`) and the error handlers that read the one error table (`errors.py`)."""
