"""Tenancy: tenants and their runtime API keys (`tenants.py`, with a short key cache in
`keycache.py`) and the bearer check that maps a request to its tenant (`auth.py`)."""
