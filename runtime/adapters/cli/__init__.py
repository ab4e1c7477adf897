"""The command-line adapter: `terrarium` (`main.py`) and its `tenants` commands (`tenants.py`)."""
