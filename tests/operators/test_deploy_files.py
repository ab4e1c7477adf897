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
    assert "SYS_ADMIN" in runtime["cap_add"]
    assert runtime["depends_on"]["postgres"]["condition"] == "service_healthy"
    nginx = services["nginx"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert nginx["depends_on"]["runtime"]["condition"] == "service_healthy"
    assert (ROOT / "deploy" / "nginx.conf").exists()
    for service in services.values():
        assert "image" in service or "build" in service


SECRETS = {"DATABASE_URL", "TERRARIUM_SECRET_KEY", "TERRARIUM_OPERATOR_KEY", "FLORA_API_KEY"}


def env_file_keys(path: Path) -> dict[str, str]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return dict(ln.split("=", 1) for ln in lines)


def test_compose_takes_secrets_only_from_git_ignored_env_files():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    text = (ROOT / "docker-compose.yml").read_text()
    for name, env_file, example_keys in (
        ("runtime", "deploy/terrarium.env", SECRETS),
        ("postgres", "deploy/postgres.env", {"POSTGRES_PASSWORD"}),
    ):
        service = compose["services"][name]
        assert service["env_file"] == [{"path": env_file, "required": True}]
        assert not (SECRETS | {"POSTGRES_PASSWORD"}) & set(service.get("environment", {}))
        example = ROOT / (env_file + ".example")
        assert set(env_file_keys(example)) == example_keys
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", env_file], cwd=ROOT, timeout=30, check=False
        )
        assert ignored.returncode == 0, f"{env_file} must be git-ignored"
        assert subprocess.run(
            ["git", "check-ignore", "-q", env_file + ".example"], cwd=ROOT, timeout=30,
            check=False,
        ).returncode == 1  # fmt: skip
    assert "PASSWORD" not in text.replace("POSTGRES_PASSWORD", "")
    assert "terrarium:terrarium@" not in text


def test_the_env_file_names_only_settings_the_runtime_reads():
    from runtime.settings import Settings

    known = {f"TERRARIUM_{name.upper()}" for name in Settings.model_fields}
    keys = set(env_file_keys(ROOT / "deploy" / "terrarium.env.example"))
    assert keys - {"DATABASE_URL", "FLORA_API_KEY"} <= known
    assert {"operator_key", "secret_key", "drain_s"} <= set(Settings.model_fields)


def test_compose_keeps_the_data_directory_on_a_volume_and_drains_before_stopping():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    runtime = compose["services"]["runtime"]
    assert "terrarium-data:/var/lib/terrarium" in runtime["volumes"]
    assert "terrarium-data" in compose["volumes"]
    assert "TERRARIUM_DATA_DIR=/var/lib/terrarium" in (ROOT / "Dockerfile").read_text()
    drain_s = float(runtime["environment"]["TERRARIUM_DRAIN_S"])
    assert seconds(runtime["stop_grace_period"]) >= drain_s + 10
    probe = " ".join(runtime["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/readyz" in probe
    resources = runtime["deploy"]["resources"]
    assert resources["limits"]["memory"] and resources["reservations"]["cpus"]


def seconds(duration: str) -> float:
    """A compose duration such as `45s` or `1m30s`."""
    total, number = 0.0, ""
    for ch in duration:
        if ch.isdigit() or ch == ".":
            number += ch
        else:
            total += float(number) * {"h": 3600, "m": 60, "s": 1}[ch]
            number = ""
    return total


def test_the_probes_answer_what_the_deploy_files_expect(api):
    """/healthz (liveness) answers 200 from the process; /readyz (readiness) 200 with the
    database and pool checked, as the compose healthcheck and the Kubernetes probes expect."""
    live = api.client.get("/healthz")
    assert live.status_code == 200
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True and ready.json()["database"] == "ok"


def test_nginx_proxies_to_the_runtime_service():
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server runtime:8000" in conf and "proxy_pass http://terrarium" in conf
    assert conf.count("{") == conf.count("}")


def test_nginx_accepts_the_config(tmp_path):
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        pytest.skip("nginx is not installed (structure checked above)")
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "location /api/ {" in conf and "client_max_body_size 51m;" in conf
    # `runtime` resolves only on compose's network: test the same file against a local address.
    (tmp_path / "nginx.conf").write_text(
        conf.replace("server runtime:8000", "server 127.0.0.1:8000")
    )
    result = subprocess.run(
        [nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path),
         "-g", f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_dockerfile_installs_the_project_and_serves_on_all_interfaces():
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "pip install ." in text
    assert '"terrarium", "serve", "--host", "0.0.0.0"' in text


def test_the_image_runs_an_init_that_reaps_orphans():
    # The server is not made to reap processes that are not its own: as process 1 it would
    # leave the sandbox's children as zombies if its zygote died before reaping them.
    text = (ROOT / "Dockerfile").read_text()
    assert "libseccomp2 tini" in text
    assert 'ENTRYPOINT ["/usr/bin/tini", "--"]' in text


def test_the_image_gets_every_package_and_its_data_files():
    """The image installs the project (`pip install .`) from what the Dockerfile copies: every
    package, and every file in them that is not Python is declared package data."""
    import fnmatch
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = [p.rstrip("*") for p in project["packages"]["find"]["include"]]
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in packages:
        assert f"COPY {package} ./{package}" in dockerfile
    tracked = subprocess.run(
        ["git", "ls-files", *packages], cwd=ROOT, capture_output=True, text=True, timeout=30,
        check=True,
    ).stdout.split()  # fmt: skip
    declared = project["package-data"]
    for path in tracked:
        if path.endswith(".py"):
            continue
        folder, name = path.rsplit("/", 1)
        matches = [
            pattern
            for package, patterns in declared.items()
            for pattern in patterns
            if fnmatch.fnmatch(path, package.replace(".", "/") + "/" + pattern)
        ]
        assert matches, f"{path} is not package data in pyproject.toml ({folder}, {name})"


def kubernetes() -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text()) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def test_kubernetes_manifest_has_readiness_probe_and_sandbox_privileges():
    pod = kubernetes()["StatefulSet/terrarium"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    security = container["securityContext"]
    assert "SYS_ADMIN" in security["capabilities"]["add"]
    assert security["seccompProfile"]["type"] == "Unconfined"
    assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["cpu"]


def test_kubernetes_reads_every_secret_from_a_secret_it_does_not_ship():
    manifest = kubernetes()
    assert not [name for name in manifest if name.startswith("Secret/")]
    container = manifest["StatefulSet/terrarium"]["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "terrarium"}}]
    inline = {e["name"] for e in container["env"]}
    assert not SECRETS & inline
    assert "CHANGE-ME" not in (ROOT / "deploy" / "kubernetes.yaml").read_text()


def test_kubernetes_keeps_the_data_directory_on_a_volume_and_drains_before_killing():
    manifest = kubernetes()
    set_ = manifest["StatefulSet/terrarium"]["spec"]
    assert set_["serviceName"] in {n.split("/")[1] for n in manifest if n.startswith("Service/")}
    pod = set_["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    [mount] = container["volumeMounts"]
    assert mount["mountPath"] == env["TERRARIUM_DATA_DIR"] == "/var/lib/terrarium"
    [claim] = set_["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == mount["name"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    assert not [v for v in pod.get("volumes", []) if v["name"] == mount["name"]]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain_s = float(env["TERRARIUM_DRAIN_S"])
    assert pod["terminationGracePeriodSeconds"] >= float(pre_stop[1]) + drain_s + 10


def test_kubernetes_secret_is_made_from_the_env_file():
    """The command docs/deploy.md and the manifest give, run without a cluster."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl")
    made = subprocess.run(
        [kubectl, "create", "secret", "generic", "terrarium",
         "--from-env-file=deploy/terrarium.env.example", "--dry-run=client", "-o", "yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    secret = yaml.safe_load(made.stdout)
    assert secret["kind"] == "Secret" and set(secret["data"]) == SECRETS


def test_docker_compose_config_accepts_the_file(tmp_path):
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("the docker compose plugin is not installed (structure checked above)")
    (tmp_path / "deploy").mkdir()
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    for name in ("terrarium.env", "postgres.env"):  # as an operator fills them in
        shutil.copy(ROOT / "deploy" / f"{name}.example", tmp_path / "deploy" / name)
    result = subprocess.run(
        [docker, "compose", "-f", str(tmp_path / "docker-compose.yml"), "config", "-q"],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
