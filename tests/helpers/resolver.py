"""Network helpers for the backend's tests: a port nothing listens on, and a resolver whose
records a test writes (so no test sends a DNS query)."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Zone:
    """A resolver with the records a test writes: name -> addresses, or a list of answers given
    in turn (the last one repeats). Names in `system` go to the real resolver (only names that
    /etc/hosts answers); any other name fails as unknown, so tests send no DNS queries."""

    def __init__(self, records=None, system=()) -> None:
        self.records: dict[str, list] = {}
        for name, answer in (records or {}).items():
            self.set(name, answer)
        self.system = set(system)
        self.queries: list[str] = []

    def set(self, name: str, *answers: list[str] | str) -> None:
        self.records[name] = [[a] if isinstance(a, str) else list(a) for a in answers]

    async def __call__(self, host: str, port: int) -> list[str]:
        from flora_backend.callback_urls import system_resolver

        self.queries.append(host)
        if host in self.system:
            return await system_resolver(host, port)
        answers = self.records.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        n = sum(1 for q in self.queries if q == host) - 1
        return answers[min(n, len(answers) - 1)]
