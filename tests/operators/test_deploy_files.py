"""The deployment files are well-formed and say what the replicas need (checked without Docker:
`docker compose config -q` is used too when the compose plugin is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_runs_three_replicas_on_postgres_behind_nginx():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "runtime", "nginx"} <= set(services)
    runtime = services["runtime"]
    assert runtime["build"] == "."
    assert runtime["deploy"]["replicas"] == 3
    env = runtime["environment"]
    assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:" in env["DATABASE_URL"]
    assert "TERRARIUM_SECRET_KEY" in env
    assert "SYS_ADMIN" in runtime["cap_add"]
    assert runtime["depends_on"]["postgres"]["condition"] == "service_healthy"
    nginx = services["nginx"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert (ROOT / "deploy" / "nginx.conf").exists()
    for service in services.values():
        assert "image" in service or "build" in service


def test_nginx_proxies_to_the_runtime_service():
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server runtime:8000" in conf and "proxy_pass http://terrarium" in conf
    assert conf.count("{") == conf.count("}")


def test_dockerfile_installs_the_project_and_serves_on_all_interfaces():
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "pip install ." in text
    assert '"terrarium", "serve", "--host", "0.0.0.0"' in text


def test_kubernetes_manifest_has_readiness_probe_and_sandbox_privileges():
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text()) if d]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    security = container["securityContext"]
    assert "SYS_ADMIN" in security["capabilities"]["add"]
    assert security["seccompProfile"]["type"] == "Unconfined"


def test_docker_compose_config_accepts_the_file():
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("the docker compose plugin is not installed (structure checked above)")
    result = subprocess.run(
        [docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True, text=True, timeout=60,
        env={"TERRARIUM_SECRET_KEY": "x", "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
