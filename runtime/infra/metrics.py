"""Prometheus metrics for `/metrics`: executions, durations, client calls, the sandbox pool, and
HTTP requests (by route, method and status; 4xx by reason; per tenant), and the tenants' queues
(how long admissions waited, how many wait now per tenant).

One registry per app (so several apps in one test process do not collide). The pool's figures
are read from `pool.health()` at scrape time, not copied on every execution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

QUEUE_WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
MAX_KEPT_CHILDREN = 10_000
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class _PoolCollector(Collector):
    def __init__(self, health: Callable[[], dict[str, Any]]) -> None:
        self._health = health

    def collect(self) -> Iterator[Any]:
        try:
            pool = self._health()
        except Exception:  # the pool is not started yet, or stopped
            return
        gauges = {
            "terrarium_pool_size_max": ("most executions running at once", "size_max"),
            "terrarium_pool_running": ("executions running now", "running"),
            "terrarium_pool_waiting": ("executions waiting for a slot", "waiting"),
            "terrarium_pool_warm_children": ("children forked ahead of demand", "warm"),
            "terrarium_pool_zygote_alive": ("1 while the forking parent is alive", "zygote_alive"),
            "terrarium_pool_forking": (
                "0 while the forking parent's last forks failed (the process limit, memory)",
                "forking",
            ),
        }
        for name, (doc, key) in gauges.items():
            yield GaugeMetricFamily(name, doc, value=float(pool.get(key) or 0))
        yield CounterMetricFamily(
            "terrarium_limit_kills",
            "children killed at a limit (wall clock, CPU, memory)",
            value=float(pool.get("limit_kills") or 0),
        )
        yield CounterMetricFamily(
            "terrarium_children_started",
            "sandbox children forked",
            value=float(pool.get("children_started") or 0),
        )


class _QueueCollector(Collector):
    """Requests waiting in each tenant's queue, read from admission at scrape time."""

    def __init__(self) -> None:
        self.source: Callable[[], dict[str, int]] | None = None

    def collect(self) -> Iterator[Any]:
        gauge = GaugeMetricFamily(
            "terrarium_admission_waiting",
            "requests waiting in their tenant's queue for a concurrency slot",
            labels=["tenant"],
        )
        if self.source is not None:
            for tenant, waiting in sorted(self.source().items()):
                gauge.add_metric([tenant], float(waiting))
        yield gauge


class Metrics:
    def __init__(self, pool_health: Callable[[], dict[str, Any]]) -> None:
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.registry = CollectorRegistry()
        self.executions = Counter(
            "terrarium_executions",
            "finished executions by status (ok, error, timeout, limit_exceeded, failed...)",
            ["status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "terrarium_execution_duration_seconds",
            "wall-clock time of executions",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.cpu = Histogram(
            "terrarium_execution_cpu_seconds",
            "CPU time of executions",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.calls = Counter(
            "terrarium_client_calls",
            "client.* calls by method and outcome",
            ["method", "status"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "terrarium_admissions_refused",
            "executions refused by a tenant's concurrency or rate limit",
            ["reason"],
            registry=self.registry,
        )
        self.registry.register(_PoolCollector(pool_health))
        # Admission's queues: every admission's wait (0 when it had a slot at once), by how the
        # wait ended (admitted, timeout, cancelled), and how many wait now, per tenant.
        self.queue_wait = Histogram(
            "terrarium_admission_wait_seconds",
            "time a request waited in its tenant's queue, by outcome",
            ["outcome"],
            buckets=QUEUE_WAIT_BUCKETS,
            registry=self.registry,
        )
        self._queue = _QueueCollector()
        self.registry.register(self._queue)
        # HTTP, counted at the door (runtime/adapters/http/door.py) for /v1 and /mcp. Routes are
        # templates (`/v1/executions/{execution_id}`), so labels stay few.
        self.http_requests = Counter(
            "terrarium_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "terrarium_http_request_duration_seconds",
            "time to answer HTTP requests, by route template",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.http_refusals = Counter(
            "terrarium_http_client_errors",
            "4xx answers by route template, status and reason (the error envelope's code)",
            ["route", "status", "reason"],
            registry=self.registry,
        )
        self.tenant_requests = Counter(
            "terrarium_tenant_requests",
            "authenticated HTTP requests by tenant, route template and status",
            ["tenant", "route", "status"],
            registry=self.registry,
        )

    def watch_queue(self, waiting: Callable[[], dict[str, int]]) -> None:
        """Where the waiting gauge reads its figures: tenant name -> requests waiting."""
        self._queue.source = waiting

    def _child(self, metric: Any, *values: str) -> Any:
        """`metric.labels(*values)`, kept: finding a labelled child is most of what counting one
        request costs. The label values come from small sets (statuses, route templates,
        methods, tenants); the bound only keeps a surprise from growing without end."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            if len(self._children) >= MAX_KEPT_CHILDREN:
                self._children.clear()
            child = self._children[key] = metric.labels(*values)
        return child

    def observe(self, body: dict[str, Any]) -> None:
        self._child(self.executions, str(body.get("status"))).inc()
        self.duration.observe(float(body.get("duration_ms") or 0.0) / 1000)
        self.cpu.observe(float(body.get("cpu_ms") or 0.0) / 1000)
        for call in body.get("calls") or ():
            self._child(self.calls, str(call.get("method")), str(call.get("status"))).inc()

    def observe_http(
        self, route: str, method: str, status: int, seconds: float, reason: str | None,
        tenant: str | None,
    ) -> None:  # fmt: skip
        code = str(status)
        self._child(self.http_requests, route, method, code).inc()
        self._child(self.http_duration, route).observe(seconds)
        if reason is not None:
            self._child(self.http_refusals, route, code, reason).inc()
        if tenant is not None:
            self._child(self.tenant_requests, tenant, route, code).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
