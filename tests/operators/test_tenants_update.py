"""`terrarium tenants update NAME`: limits (the options `create` takes, or back to the default)
and the workspace allow-list; and the one naming rule for tenants, on the CLI."""

from __future__ import annotations

import json
import sqlite3

import pytest


def test_update_limits_and_workspaces(cli):
    code, out, _ = cli("tenants", "create", "acme", "--server-flora", "--workspace", "ws_a")
    assert code == 0
    key = json.loads(out)["runtime_key"]

    code, out, err = cli(
        "tenants", "update", "acme", "--max-concurrent", "2", "--per-minute", "30",
        "--max-timeout", "12.5", "--max-memory", "128", "--max-calls", "9",
        "--max-cost-usd", "0.25",
    )  # fmt: skip
    assert code == 0, err
    limits = json.loads(out)["limits"]
    assert limits == {
        "max_concurrent": 2, "per_minute": 30, "max_timeout_s": 12.5, "max_memory_mb": 128,
        "max_calls": 9, "max_cost_usd": 0.25,
    }  # fmt: skip
    assert "TERRARIUM_KEY_CACHE_S" in err and key not in out

    code, out, _ = cli("tenants", "update", "acme", "--add-workspace", "ws_b")
    assert json.loads(out)["workspaces"] == ["ws_a", "ws_b"]
    code, out, _ = cli("tenants", "update", "acme", "--remove-workspace", "ws_a")
    assert json.loads(out)["workspaces"] == ["ws_b"]
    code, out, _ = cli("tenants", "update", "acme", "--workspace", "ws_c", "--workspace", "ws_d")
    assert json.loads(out)["workspaces"] == ["ws_c", "ws_d"]

    code, _, err = cli(
        "tenants", "update", "acme", "--remove-workspace", "ws_c", "--remove-workspace", "ws_d"
    )  # the last ones: that would widen it to every workspace
    assert code == 1 and "--any-workspace" in err
    code, out, _ = cli("tenants", "update", "acme", "--any-workspace")
    assert code == 0 and json.loads(out)["workspaces"] == []
    code, out, _ = cli("tenants", "update", "acme", "--workspace", "ws_c", "--workspace", "ws_d")

    code, out, _ = cli("tenants", "update", "acme", "--unset", "per-minute")
    assert code == 0 and json.loads(out)["limits"]["per_minute"] == 120  # the server's default
    assert json.loads(out)["limits"]["max_concurrent"] == 2  # the others unchanged

    code, out, _ = cli("tenants", "list")
    (listed,) = json.loads(out)
    assert listed["workspaces"] == ["ws_c", "ws_d"] and listed["limits"]["max_calls"] == 9

    code, _, err = cli("tenants", "update", "acme", "--max-concurrent", "0")
    assert code == 1 and "max_concurrent must be > 0" in err
    code, _, err = cli("tenants", "update", "nobody", "--max-calls", "3")
    assert code == 1 and "no active tenant 'nobody'" in err
    with pytest.raises(SystemExit, match="nothing to change"):
        cli("tenants", "update", "acme")


@pytest.mark.parametrize("bad", ["Acme", "_acme", "acme!", "a" * 64, "ac.me"])
def test_tenant_names_follow_one_rule(cli, bad, tmp_path):
    code, out, err = cli("tenants", "create", bad, "--server-flora")
    assert code == 1 and out == ""
    assert "[a-z0-9][a-z0-9_-]{0,62}" in err and "lowercase letters" in err


def test_a_builtin_tenant_with_a_bad_name_makes_no_workspace(cli, tmp_path):
    assert cli("tenants", "create", "good")[0] == 0  # a workspace on the built-in backend
    code, _, err = cli("tenants", "create", "Bad Name")
    assert code == 1 and "is not allowed" in err
    with sqlite3.connect(tmp_path / "terrarium.db") as db:
        names = {row[0] for row in db.execute("select name from backend_workspaces")}
    assert "good" in names and "Bad Name" not in names


@pytest.mark.parametrize("replacing", [["--workspace", "ws_b"], ["--any-workspace"]])
def test_removing_a_workspace_while_replacing_the_list_is_refused(cli, replacing):
    assert cli("tenants", "create", "acme", "--server-flora", "--workspace", "ws_a")[0] == 0
    with pytest.raises(SystemExit, match="replace the whole list"):
        cli("tenants", "update", "acme", *replacing, "--remove-workspace", "ws_a")
    code, out, _ = cli("tenants", "list")
    assert json.loads(out)[0]["workspaces"] == ["ws_a"]  # nothing changed
