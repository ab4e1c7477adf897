"""With FLORA_API_KEY set, scripts reach FLORA over the network (FLORA_BASE_URL), and the key
stays in the host: never in a response, an error or the calls.

The "upstream" here is a second Terrarium's built-in backend, served over real HTTP, which is
exactly what a FLORA-compatible API looks like from the runtime."""

from __future__ import annotations

import httpx
from served import ServedTerrarium, clean_env

CODE = """
def run(client):
    ws = client.workspaces.list().workspaces[0].workspace_id
    p = client.projects.create(name='upstream', workspace_id=ws)
    try:
        client.projects.retrieve('prj_missing')
    except NotFoundError as e:
        return {'project': p.project_id, 'error': str(e), 'args': e.args}
"""


def test_scripts_reach_an_upstream_flora_and_the_key_stays_in_the_host(tmp_path):
    with ServedTerrarium(clean_env(TERRARIUM_BACKEND_SPEED="0"), tmp_path / "flora") as flora:
        flora_key = (tmp_path / "flora" / "dev-key").read_text().strip()
        env = clean_env(FLORA_API_KEY=flora_key, FLORA_BASE_URL=flora.base + "/api/v1")
        with ServedTerrarium(env, tmp_path / "runtime") as runtime:
            assert httpx.get(runtime.base + "/healthz").json()["flora"] == "upstream"
            response = httpx.post(
                runtime.base + "/v1/execute",
                json={"code": CODE},
                headers={"authorization": f"Bearer {runtime.key}"},
                timeout=30,
            )
        body = response.json()
        assert body["status"] == "ok", body["error"]
        assert [c["method"] for c in body["calls"]] == [
            "workspaces.list", "projects.create", "projects.retrieve",
        ]  # fmt: skip
        assert flora_key not in response.text
        # The project really exists upstream: it was made over HTTP, not locally.
        made = httpx.get(
            f"{flora.base}/api/v1/projects/{body['result']['project']}",
            headers={"authorization": f"Bearer {flora_key}"},
        )
        assert made.status_code == 200
