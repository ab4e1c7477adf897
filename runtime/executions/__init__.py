"""Executions: the service every adapter calls (`service.Executions`) and what it is made of:
the limit policy, the FLORA connections, the script runner, admission and the recorder."""
