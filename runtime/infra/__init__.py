"""Infrastructure the runtime runs on: Prometheus metrics (`metrics.py`) and JSON logs
(`logs.py`). The database engine is `runtime/db.py`, shared with the built-in backend."""
