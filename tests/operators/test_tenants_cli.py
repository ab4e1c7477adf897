"""`terrarium tenants create|list|revoke` against a fresh data directory."""

from __future__ import annotations

import io
import json

from runtime.adapters.cli.main import main


def test_create_list_revoke(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TERRARIUM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("FLORA_API_KEY", raising=False)

    assert main(["tenants", "create", "acme", "--max-concurrent", "3"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["runtime_key"].startswith("trk_")
    assert made["tenant"]["flora"] == "builtin" and made["tenant"]["workspaces"]
    assert made["tenant"]["limits"]["max_concurrent"] == 3

    secret = "sk_upstream_never_printed"
    monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
    assert main(["tenants", "create", "beta", "--flora-key-stdin"]) == 0
    out = capsys.readouterr().out
    assert secret not in out

    assert main(["tenants", "create", "acme"]) == 1  # names are unique
    capsys.readouterr()

    assert main(["tenants", "list"]) == 0
    listed = capsys.readouterr().out
    assert {t["name"] for t in json.loads(listed)} == {"acme", "beta"}
    assert secret not in listed and made["runtime_key"] not in listed

    assert main(["tenants", "revoke", "acme"]) == 0
    assert main(["tenants", "revoke", "acme"]) == 1
    capsys.readouterr()
    assert main(["tenants", "list"]) == 0
    assert {t["name"] for t in json.loads(capsys.readouterr().out)} == {"beta"}
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600


def test_a_tenants_default_max_cost(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TERRARIUM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("FLORA_API_KEY", raising=False)
    assert main(["tenants", "create", "thrifty", "--max-cost-usd", "0.5"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["tenant"]["limits"]["max_cost_usd"] == 0.5
