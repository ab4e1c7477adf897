# FLORA's "Generate without a Technique" recipe, in Python: three image generations, polled.
import asyncio


async def run(client):
    workspaces = await client.workspaces.list()
    workspace_id = workspaces.workspaces[0].workspace_id
    project = await client.projects.create(name="Recipe demo", workspace_id=workspace_id)

    prompts = [
        "a lighthouse at dawn, watercolor",
        "a fox in a snowy forest, studio lighting",
        "a retro robot reading a newspaper",
    ]
    started = []
    for prompt in prompts:
        gen = await client.generations.create(
            type="image",
            prompt=prompt,
            workspace_id=workspace_id,
            project_id=project.project_id,
            model="t2i-flux-2-pro",
            params={"aspect_ratio": "landscape_4_3"},
        )
        started.append(gen.run_id)

    urls = []
    for run_id in started:
        while True:
            run = await client.generations.retrieve(run_id)
            if run.status in ("completed", "failed"):
                break
            await asyncio.sleep(0.2)
        if run.status == "failed":
            raise RuntimeError(f"{run_id} failed: {run.error_code}")
        urls.append(run.outputs[0].url)
    return {"project_id": project.project_id, "images": urls}
