"""The one table of FLORA's ``client.*`` surface.

Every ``client.*`` method is declared here once: HTTP verb, path, argument model,
response model, the key of the list it returns and whether that list pages, and which of its
arguments are workspace ids the host must check against the tenant. The SDK, the host
dispatcher, the sandbox proxy, the agent docs and the built-in backend's routes are all derived
from ``SURFACE``.

Where an argument goes: fields named in ``{}`` in the path go into the path; the
other fields go into the query string for GET and into the JSON body for POST.

Ids: ``ID_ARGUMENTS`` says which kind of id each argument is, and ``ID_KINDS`` the shape of
each kind (its prefix, then a safe charset with a length bound). A value placed in a path
segment must have its kind's shape, checked before any request is built, so an id such as
``"prj_x/nodes"`` can never reach a different endpoint than the one that was checked.
"""

from __future__ import annotations

import difflib
import json
import re
import types
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, TypeGuard, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from client_surface.errors import ERROR_NAMES, ArgumentError

MediaType = Literal["image", "video", "audio", "text"]
IoType = Literal["imageUrl", "videoUrl", "audioUrl", "text", "documentUrl"]
RunStatus = Literal["pending", "running", "completed", "failed"]

_CURSOR = "Opaque cursor from a previous page's meta.next_cursor; omit for the first page."
_LIMIT = "Page size, 1 to 100."


# ---------------------------------------------------------------- argument models


class Args(BaseModel):
    """Base for argument models: unknown arguments are rejected."""

    model_config = ConfigDict(extra="forbid")


class NoArgs(Args):
    pass


class ProjectsListArgs(Args):
    workspace_id: str = Field(description="Workspace whose projects to list (ws_...).")
    query: str | None = Field(None, description="Filter projects by name (substring match).")
    cursor: str | None = Field(None, description=_CURSOR)
    limit: int | None = Field(None, ge=1, le=100, description=_LIMIT)


class ProjectsCreateArgs(Args):
    name: str = Field(description="Name of the new project.")
    workspace_id: str = Field(description="Workspace to create the project in (ws_...).")


class ProjectsRetrieveArgs(Args):
    project_id: str = Field(description="Project id (prj_...). Missing and forbidden are both 404.")


class ProjectsListNodesArgs(Args):
    project_id: str = Field(description="Project whose canvas nodes to list (prj_...).")
    cursor: str | None = Field(None, description=_CURSOR)
    limit: int | None = Field(None, ge=1, le=100, description=_LIMIT)


class ModelsListArgs(Args):
    type: MediaType | None = Field(
        None, description="Only models producing this media type: image, video, audio or text."
    )


class GenerationsCreateArgs(Args):
    type: MediaType = Field(
        description="Media type to generate: exactly image, video, audio or text (not a family "
        "like t2i)."
    )
    prompt: str = Field(description="Text prompt describing what to generate.")
    workspace_id: str = Field(description="Workspace that pays for the run (ws_...).")
    project_id: str = Field(description="Project the generation belongs to (prj_...).")
    model: str | None = Field(
        None,
        description="Model id from models.list, e.g. t2i-flux-2-pro; omit for the default model.",
    )
    params: dict[str, Any] | None = Field(
        None,
        description="Model parameters by name, as listed in the model's params "
        '(e.g. {"aspect_ratio": "square_1_1"}); an open map: keys the model does not list are '
        "accepted and ignored.",
    )
    callback_url: str | None = Field(
        None, description="https URL to receive run.completed / run.failed webhooks."
    )


class RunIdArgs(Args):
    run_id: str = Field(description="Run id (run_...) returned when the run was started.")


class GenerationsListArgs(Args):
    workspace_id: str | None = Field(None, description="Only generations in this workspace.")
    project_id: str | None = Field(None, description="Only generations in this project.")
    status: RunStatus | None = Field(
        None, description="Only runs with this status: pending, running, completed or failed."
    )
    cursor: str | None = Field(None, description=_CURSOR)
    limit: int | None = Field(None, ge=1, le=100, description=_LIMIT)


class TechniquesListArgs(Args):
    workspace_id: str | None = Field(None, description="Only techniques usable in this workspace.")
    query: str | None = Field(None, description="Search techniques by name or description.")
    cursor: str | None = Field(None, description=_CURSOR)
    limit: int | None = Field(None, ge=1, le=100, description=_LIMIT)


class TechniquesRetrieveArgs(Args):
    id_or_slug: str = Field(description="Technique id (tech_...) or slug (e.g. thumbnail-v3).")


class TechniqueRunInput(Args):
    id: str = Field(description="Input id from the technique's inputs list.")
    type: Literal["text", "imageUrl", "videoUrl"] = Field(
        description="Input type: text, imageUrl or videoUrl."
    )
    value: str = Field(description="The URL, or the text itself for a text input.")


class TechniqueRunsCreateArgs(Args):
    id_or_slug: str = Field(description="Technique id (tech_...) or slug (e.g. thumbnail-v3).")
    inputs: list[TechniqueRunInput] = Field(
        description="One entry per technique input: {id, type, value}."
    )
    mode: Literal["async", "stream"] = Field(
        description='Run mode: "async" returns the pending Run to poll; "stream" is accepted '
        "and answered the same way."
    )
    callback_url: str | None = Field(
        None, description="https URL to receive run.completed / run.failed webhooks."
    )
    idempotency_key: str | None = Field(
        None, description="Key making retries safe; generated for you when omitted."
    )


class TechniqueRunsRetrieveArgs(Args):
    run_id: str = Field(description="Technique run id (run_...).")
    technique_id: str = Field(description="Technique the run belongs to (tech_... or slug).")


class TechniqueRunsListArgs(Args):
    workspace_id: str | None = Field(None, description="Only runs in this workspace.")
    project_id: str | None = Field(None, description="Only runs in this project.")
    technique_id: str | None = Field(None, description="Only runs of this technique.")
    status: RunStatus | None = Field(
        None, description="Only runs with this status: pending, running, completed or failed."
    )
    cursor: str | None = Field(None, description=_CURSOR)
    limit: int | None = Field(None, ge=1, le=100, description=_LIMIT)


class RunsStartTechniqueArgs(Args):
    technique_id: str = Field(description="Technique id (tech_...) or slug.")
    workspace_id: str = Field(description="Workspace that pays for the run (ws_...).")
    inputs: dict[str, Any] = Field(description="Input values keyed by input id: {input_id: value}.")


FeedbackKind = Literal["feature_request", "bug", "technique_request", "missing_capability"]


class FeedbackRecordArgs(Args):
    summary: str = Field(description="Short summary.")
    detail: str = Field(description="Detailed description.")
    kind: FeedbackKind = Field(
        description="Feedback kind: feature_request, bug, technique_request or "
        "missing_capability (for a blocked API workflow, e.g. an unsupported asset host)."
    )
    attempted_tools: list[str] | None = Field(
        None, description="Tools or capabilities attempted before submitting feedback."
    )
    workspace_id: str | None = Field(None, description="Workspace the feedback is about (ws_...).")
    project_id: str | None = Field(None, description="Project the feedback is about (prj_...).")
    run_id: str | None = Field(None, description="Run the feedback is about (run_...).")


# ---------------------------------------------------------------- response models
#
# As strict as the response types of FLORA's TypeScript SDK: a field without a default is
# required (`X | None` without a default: required and nullable); a field declared with
# `omittable()` may be left out but is never null (the SDK's `x?: X`); `X | None = None` may be
# left out or null (`x?: X | null`). Timestamps are numbers (Unix milliseconds) and costs USD.
# The client keeps fields FLORA adds; `response_problems` reports them for the backend's answers.


def omittable(description: str | None = None) -> Any:
    """An optional field that is never null when present (the SDK's `x?: X`)."""
    return Field(None, description=description, json_schema_extra={"omittable": True})


class Obj(BaseModel):
    """Base for response objects: fields FLORA adds are kept."""

    model_config = ConfigDict(extra="allow")


class Meta(Obj):
    next_cursor: str | None = None


class Workspace(Obj):
    workspace_id: str
    name: str
    role: str
    created_at: float | None


class WorkspaceList(Obj):
    workspaces: list[Workspace]


class Project(Obj):
    project_id: str
    name: str
    workspace_id: str
    created_at: float
    last_modified: float | None
    origin: str | None


class ProjectList(Obj):
    projects: list[Project]
    meta: Meta


class Node(Obj):
    node_id: str
    type: MediaType
    asset_id: str | None = Field(None, description="The asset the node shows, when it has one.")
    height: float | None = Field(None, description="Pixels, for an image or video output.")
    label: str | None = Field(None, description="The node's label on the canvas.")
    url: str | None = Field(
        None,
        description="The output's URL once its run completed (a text node: the text itself); "
        "None before.",
    )
    width: float | None = Field(None, description="Pixels, for an image or video output.")


class NodeList(Obj):
    nodes: list[Node]
    meta: Meta


class ParamOption(Obj):
    label: str
    value: str
    description: str | None = omittable()


class ParamProperties(Obj):
    default: float
    max: float
    min: float


ParamType = Literal["string", "string[]", "bool", "int", "int?", "seed", "float", "dict"]


class ModelParam(Obj):
    name: str
    required: bool
    type: ParamType
    default: Any = omittable()
    label: str | None = omittable()
    description: str | None = omittable()
    min: float | None = omittable()
    max: float | None = omittable()
    options: list[ParamOption] | None = omittable()
    properties: dict[str, ParamProperties] | None = omittable()


class Model(Obj):
    model_id: str
    name: str
    type: MediaType
    provider: str
    capabilities: list[str]
    estimated_credits: float
    estimated_seconds: float
    params: list[ModelParam]
    beta: bool | None = omittable()


class ModelList(Obj):
    models: list[Model]


class RunOutput(Obj):
    output_id: str
    type: IoType
    url: str = Field(
        description="The output file's URL; for a text output (type text), the text itself, "
        "as FLORA answers it.",
        json_schema_extra={"brief": "text: the text"},
    )


class Run(Obj):
    run_id: str
    status: RunStatus
    progress: float
    created_at: float
    started_at: float | None = omittable()
    completed_at: float | None = omittable()
    charged_cost: float | None = omittable("Cost charged in USD.")
    error_code: str | None = omittable()
    error_message: str | None = omittable()
    outputs: list[RunOutput] | None = omittable()
    poll_url: str | None = omittable()


class ModelRef(Obj):
    model_id: str


class TechniqueRef(Obj):
    technique_id: str
    name: str


ActionId = Literal[
    "color-grade-image-browser", "overlay-image-browser", "draw-image-browser",
    "crop-image-browser", "scene-3d-image-browser", "blur-image-browser",
    "change-image-ar-browser", "rotate-image-browser", "color-filter-image-browser",
    "color-tint-image-browser", "filter-color-image-browser", "duplicate-image-browser",
    "side-by-side-composite-browser", "add-shape-to-image-browser", "add-text-to-image-browser",
    "qr-code-generator-browser", "resize-image-browser", "shader-effect-browser",
    "split-text-browser", "find-and-replace-text-browser", "concat-text-browser",
    "ken-burns-video", "stitch-videos", "split-video", "extract-video-frames",
    "color-grade-video", "video-to-frame-grid", "boomerang-video", "reverse-video",
    "video-to-long-exposure", "video-effect", "color-filter-video", "speed-up-video",
    "slow-down-video", "duplicate-video", "greenscreen-video", "resize-video", "change-video-ar",
    "split-audio-from-video", "merge-audio-into-video",
]  # fmt: skip


class ActionRef(Obj):
    action_id: ActionId


class RunStart(Obj):
    run_id: str
    type: Literal["generation", "technique", "action"]
    charged_cost: float = Field(description="Cost charged in USD (a quote at start).")
    estimated_seconds: float | None
    poll_url: str | None = None
    project_id: str | None = None
    model: ModelRef | None = None
    technique: TechniqueRef | None = None
    action: ActionRef | None = None


class GenerationModelRef(Obj):
    model_id: str | None


class Generation(Run):
    generation_id: str
    workspace_id: str
    project_id: str
    model: GenerationModelRef | None = omittable()


class GenerationList(Obj):
    generations: list[Generation]
    meta: Meta


class TechniqueIo(Obj):
    id: str
    name: str
    type: IoType
    description: str | None = omittable()
    optional: bool | None = omittable()
    accepts_element: bool | None = omittable()
    allow_multiple: bool | None = omittable()
    specified_aspect_ratio: str | None = omittable()
    specified_duration: float | None = omittable()


class Technique(Obj):
    technique_id: str
    name: str
    description: str | None = omittable()
    run_cost: float = Field(description="Cost per run in USD.")
    inputs: list[TechniqueIo]
    outputs: list[TechniqueIo]


class TechniqueList(Obj):
    techniques: list[Technique]
    meta: Meta


class TechniqueRun(Run):
    technique_run_id: str
    technique: TechniqueRef
    workspace_id: str
    project_id: str


class TechniqueRunList(Obj):
    technique_runs: list[TechniqueRun]
    meta: Meta


class FeedbackReceipt(Obj):
    feedback_id: str
    received_at: float


def response_problems(model: type[BaseModel], data: Any) -> list[str]:
    """What in `data` breaks `model` as strictly as FLORA's SDK types it: fields the model does
    not declare, null where the SDK's type allows none, and every validation error with numbers
    kept numbers (strict mode). Empty when the answer fits."""
    problems: list[str] = []
    try:
        model.model_validate(data, strict=True)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "body"
            problems.append(f"{where}: {err['msg']}")
    _walk(model, data, "", problems)
    return problems


def _walk(model: type[BaseModel], data: Any, where: str, problems: list[str]) -> None:
    if not isinstance(data, dict):
        return
    fields = {f.alias or name: f for name, f in model.model_fields.items()}
    for key, value in data.items():
        path = f"{where}{key}"
        field = fields.get(key)
        if field is None:
            problems.append(f"{path}: not a field of {model.__name__}")
            continue
        extra = field.json_schema_extra
        if value is None and isinstance(extra, dict) and extra.get("omittable"):
            problems.append(f"{path}: may be left out but not null")
        for sub, item in _nested(field.annotation, value):
            _walk(sub, item, f"{path}{'' if item is value else '[]'}.", problems)


def _nested(annotation: Any, value: Any) -> list[tuple[type[BaseModel], Any]]:
    """(model, value) pairs for the nested models inside `value` typed `annotation`."""
    found: list[tuple[type[BaseModel], Any]] = []
    stack = [annotation]
    while stack:
        ann = stack.pop()
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if isinstance(value, dict):
                found.append((ann, value))
            continue
        args: tuple[Any, ...] = tuple(getattr(ann, "__args__", ()))
        origin = getattr(ann, "__origin__", None)
        if origin is list and args and isinstance(value, list):
            inner = args[0]
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                found.extend((inner, v) for v in value if isinstance(v, dict))
            continue
        if origin is dict and len(args) == 2 and isinstance(value, dict):
            inner = args[1]
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                found.extend((inner, v) for v in value.values() if isinstance(v, dict))
            continue
        stack.extend(a for a in args if a is not type(None))
    return found


# ---------------------------------------------------------------- workspace-scoped projects,
# canvas, project folders and the library: argument and response models, as FLORA's SDK types
# them (src/resources/workspaces/** and projects/canvas.ts), strict in both directions.


class Strict(BaseModel):
    """A response object exactly as the SDK types it: a field it does not declare is an error.
    Fields named after Python keywords (``from``, ``in``) go by their JSON names."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, serialize_by_alias=True)


class AliasArgs(Args):
    model_config = ConfigDict(extra="forbid", validate_by_name=True, serialize_by_alias=True)


_WS_PATH = "Workspace the project is in (ws_...)."
_NODE_REF = "Node: its short id (n3) or node UUID, as projects.graph reports them"
CanvasNodeType = Literal[
    "videoBlock", "textBlock", "comment", "group", "ghost", "virtualSourceNode",
    "emptyImageBlock", "outpaintImageBlock", "inpaintImageBlock", "staticImageBlock",
    "staticVideoBlock", "resultImageBlock", "resultVideoBlock", "resultTextBlock", "audioBlock",
    "resultAudioBlock", "staticAudioBlock", "techniqueBlock", "layerEditorNode",
    "videoEditorNode", "collectionNode", "routerNode", "switchNode", "elementNode", "textLabel",
    "codeBlock", "documentNode", "exportNode", "webcamNode", "model3dNode",
]  # fmt: skip
AddNodeType = Literal["image", "video", "text", "audio", "group", "static_image", "layer_editor"]


class WorkspaceProjectsCreateArgs(Args):
    workspace_id: str = Field(description="Workspace to create the project in (ws_...).")
    name: str = Field(description="Project name.")


class WorkspaceProjectArgs(Args):
    project_id: str = Field(description="Project (prj_...).")
    workspace_id: str = Field(description=_WS_PATH)


class RunNodesArgs(WorkspaceProjectArgs):
    node_ids: list[str] = Field(
        min_length=1,
        max_length=50,
        description="Generation nodes to run (1 to 50), by short id or node UUID; they run "
        "with the prompt, model and params they carry and spend credits at once.",
    )


class XY(Strict):
    x: float = Field(description="Horizontal canvas coordinate.")
    y: float = Field(description="Vertical canvas coordinate.")


class XYArgs(Args):
    x: float = Field(description="Horizontal canvas coordinate.")
    y: float = Field(description="Vertical canvas coordinate.")


class DefinitionEdge(Strict):
    id: str
    source: str
    source_handle: str | None
    target: str
    target_handle: str | None
    data: dict[str, Any] | None = omittable()
    type: str | None = omittable()


class DefinitionEdgeArgs(Args):
    id: str = Field(description="Stable canvas edge id.")
    source: str = Field(description="Source node id.")
    # Required (nullable) in FLORA's type; a null here is also what the SDK's dump leaves out.
    source_handle: str | None = Field(None, description="Source handle id, or null.")
    target: str = Field(description="Target node id.")
    target_handle: str | None = Field(None, description="Target handle id, or null.")
    data: dict[str, Any] | None = Field(None, description="Durable edge configuration.")
    type: str | None = Field(None, description="Canvas edge renderer type.")


class _NodeOptional(BaseModel):
    expand_parent: bool | None = omittable()
    extent: Literal["parent"] | list[Any] | None = omittable()
    height: float | None = omittable()
    hidden: bool | None = omittable()
    origin: list[Any] | None = omittable()
    parent_id: str | None = omittable()
    style: dict[str, Any] | None = omittable()
    width: float | None = omittable()
    z_index: float | None = omittable()


class DefinitionNode(_NodeOptional, Strict):
    id: str
    data: dict[str, Any]
    position: XY
    type: CanvasNodeType


class DefinitionNodeArgs(_NodeOptional, Args):
    id: str = Field(description="Stable canvas node id.")
    data: dict[str, Any] = Field(description="Durable node configuration (label, prompt, ...).")
    type: CanvasNodeType = Field(description="FLORA canvas node type, e.g. emptyImageBlock.")
    position: XYArgs | None = Field(
        None, description="Position; omitted positions get a deterministic automatic layout."
    )


class Definition(Strict):
    edges: list[DefinitionEdge]
    node_inputs: dict[str, dict[str, Any]]
    node_outputs: dict[str, dict[str, Any]]
    nodes: list[DefinitionNode]
    layer_editor_documents: dict[str, dict[str, Any]] | None = omittable()


class DefinitionArgs(Args):
    edges: list[DefinitionEdgeArgs] = Field(description="Complete canvas edge list.")
    node_inputs: dict[str, dict[str, Any]] = Field(
        description="Per-node generation input configuration, by node id."
    )
    node_outputs: dict[str, dict[str, Any]] = Field(
        description="Current durable output of each node, by node id."
    )
    nodes: list[DefinitionNodeArgs] = Field(description="Complete replacement node list.")
    layer_editor_documents: dict[str, dict[str, Any]] | None = Field(
        None, description="Layer Editor documents by node id; omit when there are none."
    )


class ReplaceDefinitionArgs(WorkspaceProjectArgs):
    definition: DefinitionArgs = Field(description="Complete canvas definition to replace.")


class CanvasSummary(Strict):
    edge_count: float
    group_count: float
    isolated_node_count: float
    node_count: float
    workflow_count: float


class CanvasDefinitionAnswer(Strict):
    canvas_url: str
    definition: Definition
    project_id: str
    summary: CanvasSummary


class ChangesetAdd(Args):
    ref: str = Field(description="Your handle for the new node, echoed in created.")
    type: AddNodeType = Field(
        description="image, video, text, audio, group, static_image or layer_editor."
    )
    content_url: str | None = Field(
        None, description="https URL of existing media to place (excludes prompt, model, params)."
    )
    group: str | None = Field(None, description="Group to parent the node into (id or ref).")
    label: str | None = Field(None, description="Display label.")
    model: str | None = Field(None, description="Model id; omit for the modality's default.")
    params: dict[str, Any] | None = Field(None, description="Model parameters.")
    position: XYArgs | None = Field(None, description="Absolute position; omit to place below.")
    prompt: str | None = Field(None, description="Generation prompt.")


class ChangesetConnect(AliasArgs):
    from_: str = Field(alias="from", description="Source node (id or ref).")
    to: str = Field(description="Target node (id or ref).")
    in_: str | None = Field(None, alias="in", description="Target input slot, e.g. image.")


class ChangesetRemove(Args):
    id: str = Field(description="Node to delete: short id or UUID.")


class ChangesetUpdate(Args):
    id: str = Field(description="Node to modify: short id or UUID.")
    label: str | None = Field(None, description="Replacement label.")
    model: str | None = Field(None, description="Replacement model id.")
    params: dict[str, Any] | None = Field(None, description="Params merged key by key.")
    position: XYArgs | None = Field(None, description="New absolute position.")
    prompt: str | None = Field(None, description="Replacement prompt.")


class ApplyChangesetArgs(WorkspaceProjectArgs):
    add: list[ChangesetAdd] | None = Field(None, description="Nodes to create.")
    connect: list[ChangesetConnect] | None = Field(None, description="Edges to create.")
    disconnect: list[ChangesetConnect] | None = Field(
        None, description="Edges to remove, by endpoints (and slot)."
    )
    remove: list[ChangesetRemove] | None = Field(
        None, description="Nodes to delete with their edges; immediate and irreversible."
    )
    update: list[ChangesetUpdate] | None = Field(None, description="Nodes to modify.")
    base_revision: str | None = Field(
        None,
        description="The revision you read (projects.graph); if the canvas changed since, "
        "nothing applies and the answer is a 409 conflict.",
    )


class ChangesetApplied(Strict):
    added: float
    connected: float
    disconnected: float
    removed: float
    updated: float


class ChangesetCreated(Strict):
    id: str
    node_id: str


class ChangesetAnswer(Strict):
    applied: ChangesetApplied
    canvas_url: str
    created: dict[str, ChangesetCreated]
    project_id: str
    revision: str
    warnings: list[str]


class GraphEdge(Strict):
    from_: str = Field(alias="from")
    in_: str | None = Field(alias="in")
    to: str


class GraphAction(Strict):
    action_id: str | None
    params: dict[str, Any] | None


class GraphNode(Strict):
    id: str
    action: GraphAction | None
    label: str
    model: str | None
    model_id: str | None
    node_id: str
    output_text: str | None
    output_url: str | None
    params: dict[str, Any] | None
    position: XY
    prompt: str | None
    status: Literal["idle", "generating", "done", "error"] | None
    type: str
    error_code: str | None = omittable()
    error_message: str | None = omittable()


class GraphAnswer(Strict):
    canvas_url: str
    edges: list[GraphEdge]
    nodes: list[GraphNode]
    project_id: str
    revision: str


class RunNodesModel(Strict):
    model_id: str


class RunNodesRun(Strict):
    node_id: str
    status: Literal["started", "skipped"]
    charged_cost: float | None = None
    estimated_seconds: float | None = None
    message: str | None = omittable()
    model: RunNodesModel | None = None
    poll_url: str | None = omittable()
    reason: (
        Literal[
            "node_not_found", "node_not_executable", "node_locked", "no_model_configured",
            "generation_already_running", "run_failed_to_start", "video_generation_not_available",
        ]
        | None
    ) = omittable()  # fmt: skip
    run_id: str | None = omittable()
    type: Literal["generation"] | None = omittable()


class RunNodesAnswer(Strict):
    project_id: str
    runs: list[RunNodesRun]


class WorkspaceProject(Strict):
    created_at: float
    last_modified: float | None
    name: str
    origin: str | None
    project_id: str
    workspace_id: str


class FolderCreateProjectArgs(Args):
    folder_id: str = Field(description="Project folder to file the project into (fld_...).")
    workspace_id: str = Field(description="Workspace the folder belongs to (ws_...).")
    name: str = Field(description="Project name.")


class LibraryFolderCreateArgs(Args):
    workspace_id: str = Field(description="Workspace whose library gets the folder (ws_...).")
    name: str | None = Field(None, description="Folder name; a generated one when omitted.")


class LibraryFolderArgs(Args):
    folder_id: str = Field(description="Library folder (libfolder_...).")
    workspace_id: str = Field(description="Workspace the folder is in (ws_...).")


class LibraryAddItemArgs(LibraryFolderArgs):
    description: str | None = Field(None, description="Caption for the saved item.")
    source: str | None = Field(
        None, description="Public https URL of the image to save (required when type=image)."
    )
    text: str | None = Field(None, description="Text to save (required when type=text).")
    type: Literal["image", "text"] | None = Field(None, description="Kind of item: image or text.")


class LibraryFolder(Strict):
    folder_id: str
    name: str
    workspace_id: str


class LibraryFolderDeleted(Strict):
    deleted: Literal[True]
    folder_id: str
    workspace_id: str


class LibraryItem(Strict):
    folder_id: str
    saved_node_id: str
    workspace_id: str
    asset_id: str | None = omittable()
    url: str | None = None


class CanvasRetrieveArgs(Args):
    project_id: str = Field(description="Project whose canvas to read (prj_...).")


class MermaidNodeParams(Args):
    aspect_ratio: str | None = Field(None, description="Aspect ratio param.")
    content_url: str | None = Field(
        None, description="https URL of existing media to place as a static node (no prompt)."
    )
    model: str | None = Field(None, description="Model id.")
    model_parameters: dict[str, Any] | None = Field(None, description="Model parameters.")
    prompt: str | None = Field(None, description="Prompt; the label is used when omitted.")
    resolution: str | None = Field(None, description="Resolution param.")


class CanvasUpdateArgs(Args):
    project_id: str = Field(description="Project whose canvas to add to (prj_...).")
    diagram: str = Field(
        description='Mermaid flowchart to add, e.g. \'graph LR\\n  a["A fox (Image)"]\\n  '
        "n1 --> a'. Add-only: it never removes or edits existing nodes."
    )
    node_params: dict[str, MermaidNodeParams] | None = Field(
        None, description='Per-node params keyed by Mermaid node id: {"img1": {...}}.'
    )


class CanvasMermaid(Strict):
    canvas_url: str
    diagram: str
    project_id: str
    summary: CanvasSummary


class CanvasUpdateAnswer(Strict):
    canvas_url: str
    created_edge_count: float
    created_node_count: float
    diagram: str
    project_id: str
    warnings: list[str] | None = omittable()


# ---------------------------------------------------------------- assets and actions

AssetStatus = Literal["pending_upload", "ready", "failed"]
_ACTION_ID = "Action slug from actions.list, e.g. rotate-image-browser."


class AssetsCreateArgs(Args):
    source: str = Field(
        description='"signed-url" to reserve an upload URL (PUT the bytes, then '
        "assets.complete), or a public https URL the server fetches (up to 50 MB)."
    )
    workspace_id: str = Field(description="Workspace to store the asset in (ws_...).")
    content_type: str | None = Field(None, description="Content type, e.g. image/png.")
    file_name: str | None = Field(None, description="File name of the asset.")
    folder: str | None = Field(None, description="Destination folder.")
    project_id: str | None = Field(
        None, description="Also put the asset on this project's canvas (prj_...)."
    )


class AssetIdArgs(Args):
    asset_id: str = Field(description="Asset id (asset_...).")


class AssetsListArgs(Args):
    workspace_id: str | None = Field(None, description="Only assets in this workspace.")
    project_id: str | None = Field(None, description="Only assets on this project's canvas.")
    query: str | None = Field(None, description="Search assets by name.")
    cursor: str | None = Field(None, description=_CURSOR)
    limit: int | None = Field(None, ge=1, le=100, description=_LIMIT)


class ProjectsAssetsAttachArgs(Args):
    asset_id: str = Field(description="A ready asset (asset_...).")
    project_id: str = Field(description="Project whose canvas gets the asset (prj_...).")


class ActionsRetrieveArgs(Args):
    action_id: ActionId = Field(description=_ACTION_ID)


class ActionRunInput(Args):
    type: MediaType = Field(description="Input type: image, video, audio or text.")
    name: str | None = Field(None, description="Optional input name.")
    text: str | None = Field(None, description="The text, for a text input.")
    url: str | None = Field(None, description="The media URL, for an image input.")


class ActionsRunArgs(Args):
    action_id: ActionId = Field(description=_ACTION_ID)
    inputs: list[ActionRunInput] = Field(
        description='Non-empty: [{"type": "image", "url": ...}] or [{"type": "text", "text": ...}].'
    )
    project_id: str = Field(description="Project the run is recorded in (prj_...).")
    workspace_id: str = Field(description="Workspace that pays for the run (ws_...).")
    params: dict[str, Any] | None = Field(
        None, description="Action params by key, as listed in the action's params."
    )


class ProjectsActionsCreateArgs(Args):
    project_id: str = Field(description="Project whose canvas gets the action node (prj_...).")
    action_id: ActionId = Field(description=_ACTION_ID)
    params: dict[str, Any] | None = Field(
        None, description="Action params by key, as listed in the action's params."
    )


class ProjectsActionsRunArgs(Args):
    node_id: str = Field(description="Action node id from projects.actions.create.")
    project_id: str = Field(description="Project the node is on (prj_...).")


# A script's call frame carries at most 256 KiB of JSON and base64 adds a third: the bytes a
# script uploads are capped below that, so a larger file comes by URL (FLORA fetches up to 50 MB).
SCRIPT_UPLOAD_MAX_BYTES = 128 * 1024
UPLOAD_MAX_BYTES = 50 * 1024 * 1024  # FLORA's own cap on an asset


class AssetsUploadArgs(Args):
    file: str | bytes = Field(
        description="base64 text or a data: URL (at most 128 KiB of bytes from a script; bytes "
        "in Python), or a public https URL (up to 50 MB)."
    )
    workspace_id: str = Field(description="Workspace to store the asset in (ws_...).")
    content_type: str | None = Field(
        None, description="Content type, e.g. image/png; read from the bytes when omitted."
    )
    file_name: str | None = Field(None, description="File name of the asset.")
    folder: str | None = Field(None, description="Destination folder.")
    project_id: str | None = Field(
        None, description="Also put the asset on this project's canvas (prj_...)."
    )


class AssetUploadForm(Obj):
    content_type: Literal["multipart/form-data"]
    file_field: Literal["file"]
    form_fields: dict[str, str]
    method: Literal["POST"]
    url: str


class AssetCreated(Obj):
    asset_id: str
    status: AssetStatus
    uploaded_via: Literal["url", "signed_url", "direct"]
    url: str
    visibility: Literal["workspace"]
    workspace_id: str
    expires_at: str | None = omittable("When the upload URL expires (ISO 8601).")
    upload: AssetUploadForm | None = omittable()
    upload_url: str | None = omittable("PUT the bytes here (a signed upload).")


class AssetUploadState(Obj):
    asset_id: str
    status: AssetStatus
    url: str | None
    visibility: Literal["workspace"]
    workspace_id: str | None
    expires_at: str | None = None
    failure_message: str | None = None
    upload: AssetUploadForm | None = None
    upload_url: str | None = None


class AssetDetail(Obj):
    asset_id: str
    content_type: str
    created_at: str | None
    description: str | None
    failure_message: str | None
    height: float | None
    name: str | None
    size_bytes: float | None
    status: AssetStatus
    upload_content_type: str | None
    uploaded_via: str
    url: str | None
    width: float | None
    workspace_id: str | None


class AssetListItem(Obj):
    asset_id: str | None
    content_type: str
    created_at: float | None
    description: str | None
    height: float | None
    name: str | None
    size_bytes: float | None
    status: AssetStatus
    upload_content_type: str | None
    uploaded_via: str
    url: str | None
    width: float | None
    workspace_id: str | None
    node_id: str | None = None
    project_id: str | None = None


class AssetList(Obj):
    assets: list[AssetListItem] = []
    meta: Meta = Meta()


class CanvasNodeRef(Obj):
    canvas_url: str
    node_id: str
    project_id: str


class AssetAttached(CanvasNodeRef):
    asset_id: str


class ActionNodeCreated(CanvasNodeRef):
    action_id: ActionId


class ActionSlotBounds(Obj):
    max: float | None = omittable()
    min: float | None = omittable()


class ActionSlot(Obj):
    name: str
    type: MediaType
    dynamic: bool | None = omittable()
    multiple: Literal[True] | ActionSlotBounds | None = omittable()
    optional: bool | None = omittable()


class ActionParamValue(Obj):
    label: str
    value: str
    description: str | None = omittable()


class ActionParam(Obj):
    key: str
    type: str
    available_values: list[ActionParamValue] | None = omittable()
    default_value: Any = omittable()
    info_tooltip: str | None = omittable()
    label: str | None = omittable()
    max_number_value: float | None = omittable()
    min_number_value: float | None = omittable()
    number_step: float | None = omittable()


class ActionInfo(Obj):
    action_id: ActionId
    charged_cost: float
    description: str
    inputs: list[ActionSlot]
    language: Literal["javascript", "python"]
    name: str
    outputs: list[ActionSlot]
    params: list[ActionParam]


class ActionList(Obj):
    actions: list[ActionInfo] = []


# ---------------------------------------------------------------- id shapes


@dataclass(frozen=True)
class IdKind:
    """One kind of id: how it must look, and those words for an agent."""

    name: str
    pattern: re.Pattern[str]
    shape: str

    def fits(self, value: object) -> TypeGuard[str]:
        return isinstance(value, str) and self.pattern.fullmatch(value) is not None


_SAFE = "[A-Za-z0-9_-]{1,128}"
_SAFE_WORDS = "letters, digits, '_' or '-' (1 to 128)"


def _prefixed(name: str, prefix: str) -> IdKind:
    return IdKind(name, re.compile(re.escape(prefix) + _SAFE), f"'{prefix}' then {_SAFE_WORDS}")


def _plain(name: str) -> IdKind:
    return IdKind(name, re.compile(_SAFE), _SAFE_WORDS)


ID_KINDS: dict[str, IdKind] = {
    "workspace": _prefixed("workspace", "ws_"),
    "project": _prefixed("project", "prj_"),
    "run": _prefixed("run", "run_"),
    "asset": _prefixed("asset", "asset_"),
    "feedback": _prefixed("feedback", "fb_"),
    "technique": IdKind(
        "technique",
        re.compile("tech_" + _SAFE + "|[a-z0-9][a-z0-9-]{0,127}"),
        f"'tech_' then {_SAFE_WORDS}, or a slug of lowercase letters, digits and '-' "
        "(e.g. thumbnail-v3)",
    ),
    # A model id may hold dots (flux-1.1-pro), never as its first character: no '.' or '..'.
    "model": IdKind(
        "model",
        re.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}"),
        "letters, digits, '.', '_' or '-' (1 to 128), starting with a letter or digit",
    ),
    "folder": IdKind(
        "folder",
        re.compile("(?:fld_|libfolder_)" + _SAFE),
        f"'fld_' (a project folder) or 'libfolder_' (a library folder) then {_SAFE_WORDS}",
    ),
    "node": _plain("node"),
    "action": _plain("action"),
    "output": _plain("output"),
}

ID_ARGUMENTS: dict[str, str] = {
    "workspace_id": "workspace",
    "project_id": "project",
    "run_id": "run",
    "asset_id": "asset",
    "feedback_id": "feedback",
    "technique_id": "technique",
    "id_or_slug": "technique",
    "model_id": "model",
    "folder_id": "folder",
    "node_id": "node",
    "action_id": "action",
    "output_id": "output",
}


def _path_kind(name: str) -> IdKind:
    kind = ID_KINDS.get(ID_ARGUMENTS.get(name, ""))
    if kind is None:  # a path argument the table gives no kind: the safe charset still holds
        kind = _plain(name)
    return kind


def check_path_value(method_name: str, name: str, value: Any) -> str:
    """`value` for the path segment `name`, or `ArgumentError` saying the shape expected."""
    kind = _path_kind(name)
    if not kind.fits(value):
        raise ArgumentError(
            f"{method_name}(): argument {name!r} must be a {kind.name} id: {kind.shape} "
            f"(got {_short(value)}).",
            f"Pass the {kind.name} id exactly as the API returned it.",
        )
    return value


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Filled:
    """An argument FLORA requires that a script may omit: ``value`` is sent in its place, and the
    execution's warnings say so (``warning``), so the agent learns the argument exists."""

    name: str
    value: Any
    reason: str  # why a value must be sent, in FLORA's words

    def warning(self, method_name: str) -> str:
        sent = json.dumps(self.value)
        return f"{method_name}: {self.name} was not given; sent {self.name}={sent} ({self.reason})"


def _camel(segment: str) -> str:
    head, *rest = segment.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True)
class Method:
    """One ``client.*`` method.

    ``items_key`` names the list in the response of every list method (``models`` for
    models.list); ``paged`` says the method takes ``cursor``/``limit`` and answers ``meta``, so
    callers get a page that walks every page. ``workspace_args`` are the arguments holding
    workspace ids: a tenant's call naming a workspace it may not use is refused in the host.
    ``filled`` are arguments a script may omit though FLORA requires them (see ``Filled``).
    ``model_params`` is ``(model argument, params argument)`` when the params argument is
    FLORA's open map of the chosen model's params: every key is sent, and keys the model does not
    list come back as a warning naming them and the model's params.
    ``steps`` makes it a helper (``HELPERS``): no verb or path of its own, the SDK runs the steps
    in the host, and a script's call of it is one call.
    """

    resource: str
    name: str
    verb: str
    path: str
    args: type[BaseModel]
    response: type[BaseModel]
    items_key: str | None
    summary: str
    positional: tuple[str, ...] = ()
    idempotency: str | None = None
    success_status: int = 200
    example: str | None = None
    deprecated: bool = False
    paged: bool = False
    workspace_args: tuple[str, ...] = ()
    filled: tuple[Filled, ...] = ()
    model_params: tuple[str, str] | None = None
    steps: tuple[str, ...] = ()

    @property
    def helper(self) -> bool:
        """A method the SDK implements over other calls (``steps``), with no route of its own."""
        return bool(self.steps)

    # Read once per method (a frozen dataclass with a ``__dict__`` keeps a cached_property):
    # ``check_arguments`` reads these on every call.
    @cached_property
    def full_name(self) -> str:
        return f"{self.resource}.{self.name}"

    @property
    def camel_name(self) -> str:
        return ".".join(_camel(s) for s in self.full_name.split("."))

    @cached_property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)}", self.path))

    @cached_property
    def argument_names(self) -> frozenset[str]:
        """The names of the argument model's fields."""
        return frozenset(self.args.model_fields)

    @cached_property
    def required_arguments(self) -> tuple[str, ...]:
        """The fields of the argument model without a default, in their order."""
        return tuple(n for n, f in self.args.model_fields.items() if f.is_required())

    @cached_property
    def path_kinds(self) -> tuple[tuple[str, IdKind], ...]:
        """Each path parameter with the id kind its value must fit (see ``check_path_value``)."""
        return tuple((name, _path_kind(name)) for name in self.path_params)


SURFACE: tuple[Method, ...] = (
    Method(
        "workspaces", "list", "GET", "/workspaces", NoArgs, WorkspaceList, "workspaces",
        "List the workspaces this API key can use.",
        example="client.workspaces.list()",
    ),
    Method(
        "projects", "list", "GET", "/projects", ProjectsListArgs, ProjectList, "projects",
        "List a workspace's projects, newest activity first.", paged=True,
        workspace_args=("workspace_id",),
        example='client.projects.list(workspace_id="ws_123", limit=10)',
    ),
    Method(
        "projects", "create", "POST", "/projects", ProjectsCreateArgs, Project, None,
        "Create a project in a workspace.", workspace_args=("workspace_id",),
        example='client.projects.create(name="Launch", workspace_id="ws_123")',
    ),
    Method(
        "projects", "retrieve", "GET", "/projects/{project_id}", ProjectsRetrieveArgs, Project,
        None, "Get one project by id.", positional=("project_id",),
        example='client.projects.retrieve("prj_123")',
    ),
    Method(
        "projects", "list_nodes", "GET", "/projects/{project_id}/nodes", ProjectsListNodesArgs,
        NodeList, "nodes", "List the canvas nodes of a project.", positional=("project_id",),
        paged=True,
        example='client.projects.list_nodes("prj_123")',
    ),
    Method(
        "models", "list", "GET", "/models", ModelsListArgs, ModelList, "models",
        "List models with their params, credit and time estimates.",
        example='client.models.list(type="image")',
    ),
    Method(
        "generations", "create", "POST", "/generate", GenerationsCreateArgs, RunStart, None,
        "Start a paid generation run; poll it with generations.retrieve.",
        idempotency="header", success_status=201, workspace_args=("workspace_id",),
        model_params=("model", "params"),
        example='client.generations.create(type="image", prompt="a red fox", '
        'workspace_id="ws_123", project_id="prj_123")',
    ),
    Method(
        "generations", "retrieve", "GET", "/runs/{run_id}", RunIdArgs, Run, None,
        "Get a run (any type) with status, progress and outputs.", positional=("run_id",),
        example='client.generations.retrieve("run_123")',
    ),
    Method(
        "generations", "list", "GET", "/generations", GenerationsListArgs, GenerationList,
        "generations", "List generation runs, newest first.", paged=True,
        workspace_args=("workspace_id",),
        example='client.generations.list(project_id="prj_123", status="completed")',
    ),
    Method(
        "techniques", "list", "GET", "/techniques", TechniquesListArgs, TechniqueList,
        "techniques", "List or search techniques (multi-step workflows).", paged=True,
        workspace_args=("workspace_id",),
        example='client.techniques.list(query="thumbnail")',
    ),
    Method(
        "techniques", "retrieve", "GET", "/techniques/{id_or_slug}", TechniquesRetrieveArgs,
        Technique, None, "Get a technique with its inputs, outputs and run cost.",
        positional=("id_or_slug",), example='client.techniques.retrieve("thumbnail-v3")',
    ),
    Method(
        "techniques.runs", "create", "POST", "/techniques/{id_or_slug}/runs",
        TechniqueRunsCreateArgs, Run, None, "Start a paid technique run; returns a Run to poll.",
        positional=("id_or_slug",), idempotency="body",
        filled=(Filled("mode", "async", 'FLORA requires "async" or "stream"'),),
        example='client.techniques.runs.create("thumbnail-v3", inputs=[{"id": "title", '
        '"type": "text", "value": "Launch day"}], mode="async")',
    ),
    Method(
        "techniques.runs", "retrieve", "GET", "/techniques/{technique_id}/runs/{run_id}",
        TechniqueRunsRetrieveArgs, Run, None, "Get one technique run.",
        positional=("run_id",),
        example='client.techniques.runs.retrieve("run_123", technique_id="tech_123")',
    ),
    Method(
        "techniques.runs", "list", "GET", "/technique-runs", TechniqueRunsListArgs,
        TechniqueRunList, "technique_runs", "List technique runs, newest first.", paged=True,
        workspace_args=("workspace_id",),
        example='client.techniques.runs.list(technique_id="tech_123")',
    ),
    Method(
        "runs", "start_technique", "POST", "/runs/technique", RunsStartTechniqueArgs, RunStart,
        None, "Start a technique run with inputs keyed by input id.",
        workspace_args=("workspace_id",),
        example='client.runs.start_technique(technique_id="tech_123", workspace_id="ws_123", '
        'inputs={"prompt": "a fox"})',
    ),
    Method(
        "runs", "start_generation", "POST", "/runs/generation", GenerationsCreateArgs, RunStart,
        None, "Deprecated twin of generations.create.", idempotency="header",
        success_status=201, deprecated=True, workspace_args=("workspace_id",),
        model_params=("model", "params"),
        example='client.runs.start_generation(type="image", prompt="a fox", '
        'workspace_id="ws_123", project_id="prj_123")',
    ),
    Method(
        "feedback", "record", "POST", "/feedback", FeedbackRecordArgs, FeedbackReceipt, None,
        "Record product feedback, optionally about a workspace, project or run.",
        idempotency="header", workspace_args=("workspace_id",),
        example='client.feedback.record(kind="bug", summary="Stuck run", detail="...")',
    ),
    # -- workspace-scoped projects, canvas, project folders and the library
    Method(
        "workspaces.projects", "create", "POST", "/workspaces/{workspace_id}/projects",
        WorkspaceProjectsCreateArgs, WorkspaceProject, None,
        "Create a project in the workspace named in the path.", positional=("workspace_id",),
        idempotency="header", workspace_args=("workspace_id",),
        example='client.workspaces.projects.create("ws_123", name="Spring Campaign")',
    ),
    Method(
        "workspaces.projects", "graph", "GET",
        "/workspaces/{workspace_id}/projects/{project_id}/graph", WorkspaceProjectArgs,
        GraphAnswer, None,
        "A project's canvas: nodes (short id, prompt, model, status, output), edges, revision.",
        positional=("project_id",), workspace_args=("workspace_id",),
        example='client.workspaces.projects.graph("prj_123", workspace_id="ws_123")',
    ),
    Method(
        "workspaces.projects", "run_nodes", "POST",
        "/workspaces/{workspace_id}/projects/{project_id}/nodes/run", RunNodesArgs,
        RunNodesAnswer, None,
        "Run canvas generation nodes as configured (paid at once); poll each run_id.",
        positional=("project_id",), idempotency="header", workspace_args=("workspace_id",),
        example='client.workspaces.projects.run_nodes("prj_123", workspace_id="ws_123", '
        'node_ids=["n1"])',
    ),
    Method(
        "workspaces.projects.canvas", "retrieve_definition", "GET",
        "/workspaces/{workspace_id}/projects/{project_id}/canvas/definition",
        WorkspaceProjectArgs, CanvasDefinitionAnswer, None,
        "The complete JSON canvas definition: nodes, edges, inputs, outputs, positions.",
        positional=("project_id",), workspace_args=("workspace_id",),
        example='client.workspaces.projects.canvas.retrieve_definition("prj_123", '
        'workspace_id="ws_123")',
    ),
    Method(
        "workspaces.projects.canvas", "replace_definition", "PUT",
        "/workspaces/{workspace_id}/projects/{project_id}/canvas/definition",
        ReplaceDefinitionArgs, CanvasDefinitionAnswer, None,
        "Replace the whole canvas definition atomically (validated first).",
        positional=("project_id",), idempotency="header", workspace_args=("workspace_id",),
        example='client.workspaces.projects.canvas.replace_definition("prj_123", '
        'workspace_id="ws_123", definition={"nodes": [], "edges": [], "node_inputs": {}, '
        '"node_outputs": {}})',
    ),
    Method(
        "workspaces.projects.canvas", "apply_changeset", "POST",
        "/workspaces/{workspace_id}/projects/{project_id}/canvas/changeset",
        ApplyChangesetArgs, ChangesetAnswer, None,
        "Add, update, connect, disconnect, remove canvas nodes in one atomic changeset.",
        positional=("project_id",), idempotency="header", workspace_args=("workspace_id",),
        example='client.workspaces.projects.canvas.apply_changeset("prj_123", '
        'workspace_id="ws_123", add=[{"ref": "fox", "type": "image", "prompt": "a fox"}])',
    ),
    Method(
        "workspaces.folders", "create_project", "POST",
        "/workspaces/{workspace_id}/folders/{folder_id}/projects", FolderCreateProjectArgs,
        WorkspaceProject, None, "Create a project filed into a project folder.",
        positional=("folder_id",), idempotency="header", workspace_args=("workspace_id",),
        example='client.workspaces.folders.create_project("fld_123", workspace_id="ws_123", '
        'name="Spring Campaign")',
    ),
    Method(
        "workspaces.library.folders", "create", "POST",
        "/workspaces/{workspace_id}/library/folders", LibraryFolderCreateArgs, LibraryFolder,
        None, "Create a folder in the workspace's library.", positional=("workspace_id",),
        idempotency="header", workspace_args=("workspace_id",),
        example='client.workspaces.library.folders.create("ws_123", name="Clips")',
    ),
    Method(
        "workspaces.library.folders", "add_item", "POST",
        "/workspaces/{workspace_id}/library/folders/{folder_id}/items", LibraryAddItemArgs,
        LibraryItem, None, "Save an image (fetched from an https URL) or a text in a folder.",
        positional=("folder_id",), idempotency="header", workspace_args=("workspace_id",),
        example='client.workspaces.library.folders.add_item("libfolder_123", '
        'workspace_id="ws_123", type="text", text="a red fox")',
    ),
    Method(
        "workspaces.library.folders", "delete", "DELETE",
        "/workspaces/{workspace_id}/library/folders/{folder_id}", LibraryFolderArgs,
        LibraryFolderDeleted, None, "Delete a library folder; its saved items stay, detached.",
        positional=("folder_id",), workspace_args=("workspace_id",),
        example='client.workspaces.library.folders.delete("libfolder_123", '
        'workspace_id="ws_123")',
    ),
    Method(
        "projects.canvas", "retrieve", "GET", "/projects/{project_id}/canvas",
        CanvasRetrieveArgs, CanvasMermaid, None,
        "The project canvas as a Mermaid flowchart, with a summary.",
        positional=("project_id",), example='client.projects.canvas.retrieve("prj_123")',
    ),
    Method(
        "projects.canvas", "update", "PATCH", "/projects/{project_id}/canvas",
        CanvasUpdateArgs, CanvasUpdateAnswer, None,
        "Add nodes and edges from a Mermaid flowchart (add-only; existing ids by edge).",
        positional=("project_id",),
        example='client.projects.canvas.update("prj_123", diagram=\'graph LR\\n  a["A fox '
        '(Image)"]\\n  b["The fox in snow (Image)"]\\n  a --> b\')',
    ),
    # -- end of workspace-scoped projects, canvas, folders and the library
    # -- assets and actions
    Method(
        "assets", "create", "POST", "/assets", AssetsCreateArgs, AssetCreated, None,
        "Create an asset: from a public https URL (fetched by the server), or reserve a signed "
        "upload URL (source=\"signed-url\"), PUT the bytes there, then assets.complete.",
        idempotency="header", workspace_args=("workspace_id",),
        example='client.assets.create(source="https://example.com/a.png", workspace_id="ws_123")',
    ),
    Method(
        "assets", "retrieve", "GET", "/assets/{asset_id}", AssetIdArgs, AssetDetail, None,
        "Get one asset with its status, url, size and dimensions.", positional=("asset_id",),
        example='client.assets.retrieve("asset_123")',
    ),
    Method(
        "assets", "list", "GET", "/assets", AssetsListArgs, AssetList, "assets",
        "List assets, newest first.", paged=True, workspace_args=("workspace_id",),
        example='client.assets.list(workspace_id="ws_123")',
    ),
    Method(
        "assets", "complete", "POST", "/assets/{asset_id}/complete", AssetIdArgs,
        AssetUploadState, None, "Mark a signed upload complete once its bytes are uploaded.",
        positional=("asset_id",), idempotency="header",
        example='client.assets.complete("asset_123")',
    ),
    Method(
        "assets", "retry", "POST", "/assets/{asset_id}/retry", AssetIdArgs, AssetUploadState,
        None, "A fresh signed upload URL for a failed or expired upload.",
        positional=("asset_id",), idempotency="header",
        example='client.assets.retry("asset_123")',
    ),
    Method(
        "projects.assets", "attach_asset", "POST",
        "/projects/{project_id}/assets/{asset_id}/attach", ProjectsAssetsAttachArgs,
        AssetAttached, None,
        "Put a ready asset on a project's canvas as a media node.", positional=("asset_id",),
        idempotency="header",
        example='client.projects.assets.attach_asset("asset_123", project_id="prj_123")',
    ),
    Method(
        "actions", "list", "GET", "/actions", NoArgs, ActionList, "actions",
        "List the prebuilt actions (image and text edits) with their params and cost.",
        example="client.actions.list()",
    ),
    Method(
        "actions", "retrieve", "GET", "/actions/{action_id}", ActionsRetrieveArgs, ActionInfo,
        None,
        "Get one prebuilt action with its inputs, outputs and params.",
        positional=("action_id",), example='client.actions.retrieve("rotate-image-browser")',
    ),
    Method(
        "actions", "run", "POST", "/runs/action", ActionsRunArgs, RunStart, None,
        "Run a prebuilt action on input URLs or texts (no canvas change); poll the run.",
        idempotency="header", workspace_args=("workspace_id",),
        example='client.actions.run(action_id="rotate-image-browser", inputs=[{"type": '
        '"image", "url": "https://example.com/a.png"}], project_id="prj_123", '
        'workspace_id="ws_123", params={"angle": 90})',
    ),
    Method(
        "projects.actions", "create", "POST", "/projects/{project_id}/actions",
        ProjectsActionsCreateArgs, ActionNodeCreated, None,
        "Place a prebuilt action node on a project's canvas, fed by its newest matching node.",
        positional=("project_id",),
        example='client.projects.actions.create("prj_123", action_id="blur-image-browser")',
    ),
    Method(
        "projects.actions", "run", "POST", "/projects/{project_id}/actions/{node_id}/run",
        ProjectsActionsRunArgs, RunStart, None,
        "Run an action node of a project's canvas; poll the run.", positional=("node_id",),
        idempotency="header",
        example='client.projects.actions.run("node_123", project_id="prj_123")',
    ),
    # -- end of assets and actions
)  # fmt: skip

# The SDK's helpers, as FLORA's SDK has them: methods over the endpoints above that the SDK runs
# in the host. The backend serves SURFACE; scripts, the SDK and the docs see METHODS.
HELPERS: tuple[Method, ...] = (
    Method(
        "assets", "upload", "", "", AssetsUploadArgs, AssetDetail, None,
        "Upload a file in one call and wait until it is ready: a URL is fetched by FLORA; bytes "
        "go through a signed upload.",
        positional=("file",), workspace_args=("workspace_id",),
        steps=("assets.create", "PUT", "assets.complete", "assets.retrieve"),
        example='client.assets.upload(base64.b64encode(png).decode(), workspace_id="ws_123", '
        'file_name="a.png")',
    ),
)  # fmt: skip

METHODS: tuple[Method, ...] = SURFACE + HELPERS  # every client.* method

_BY_NAME: dict[str, Method] = {}
for _m in METHODS:
    _BY_NAME[_m.full_name] = _m
    _BY_NAME[_m.camel_name] = _m


def find(name: str) -> Method | None:
    """The method called ``name`` (snake or camelCase, optional ``client.`` prefix)."""
    found = _BY_NAME.get(name) if type(name) is str else None
    if found is not None:  # the name as the table spells it, as the host's calls name it
        return found
    name = name.strip()
    if name.startswith("client."):
        name = name[len("client.") :]
    return _BY_NAME.get(name)


def method_names() -> list[str]:
    return [m.full_name for m in METHODS]


def suggest(word: str, candidates: list[str] | tuple[str, ...]) -> str | None:
    """The closest candidate to ``word``, also matching camelCase to snake_case."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", word).lower()
    for cand in candidates:
        if cand.lower() in (word.lower(), snake):
            return cand
    found = difflib.get_close_matches(snake, list(candidates), n=1, cutoff=0.6)
    if not found:
        found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def suggest_method(name: str) -> str | None:
    name = name.removeprefix("client.")
    names = method_names()
    hit = suggest(name, names)
    if hit:
        return hit
    # "generations.creat" and "generate.create" style slips: compare the last segment too.
    tail = name.rsplit(".", 1)[-1]
    same_tail = [n for n in names if n.rsplit(".", 1)[-1] == tail]
    return same_tail[0] if len(same_tail) == 1 else None


# ---------------------------------------------------------------- argument checks


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_arguments(method: Method, arguments: dict[str, Any]) -> BaseModel:
    """Validate ``arguments`` against the method's argument model.

    Raises ``ArgumentError`` naming every unknown, missing or invalid argument,
    with did-you-mean suggestions and the valid values of enums. Arguments whose names are all
    known, none required missing, go straight to the model: the wording of a name's problem is
    built only when there is one.
    """
    path_kinds = method.path_kinds
    for name, kind in path_kinds:  # a path id's shape first, before anything else
        if name in arguments and not kind.fits(arguments[name]):
            check_path_value(method.full_name, name, arguments[name])
    keys = arguments.keys()
    if not keys <= method.argument_names or not all(n in keys for n in method.required_arguments):
        _check_names(method, arguments)
    try:  # `model_validate(arguments)`, without its Python wrapper
        validated: BaseModel = method.args.__pydantic_validator__.validate_python(arguments)
    except ValidationError as exc:
        raise _invalid(method, exc) from None
    for name, kind in path_kinds:  # and the value the model made of it
        value = getattr(validated, name)
        if not kind.fits(value):
            check_path_value(method.full_name, name, value)
    return validated


def _check_names(method: Method, arguments: dict[str, Any]) -> None:
    """`ArgumentError` naming every unknown argument (with a did-you-mean) and every missing
    required one; `check_arguments` calls it only when one is unknown or missing."""
    call = f"{method.full_name}()"
    fields = method.args.model_fields
    valid = list(fields)
    problems: list[str] = []
    hints: list[str] = []
    for key in arguments:
        if key in fields:
            continue
        guess = suggest(str(key), valid)
        text = f"{call} got an unexpected argument {key!r}."
        if guess:
            text += f" Did you mean {guess!r}?"
            hints.append(f"Did you mean {guess!r}?")
        problems.append(text)
    if problems:
        listed = ", ".join(valid) if valid else "none"
        problems.append(f"Valid arguments: {listed}.")
    guessed = {h.split("'")[1] for h in hints}
    missing = [
        n for n, f in fields.items() if f.is_required() and n not in arguments and n not in guessed
    ]
    if missing:
        problems.append(
            f"{call} is missing required argument{'s' if len(missing) > 1 else ''}: "
            + ", ".join(repr(n) for n in missing)
            + "."
        )
    if problems:
        raise ArgumentError(" ".join(problems), " ".join(hints) or None)


def _invalid(method: Method, exc: ValidationError) -> ArgumentError:
    """The `ArgumentError` for arguments the model refused: each error's place and why."""
    problems: list[str] = []
    for err in exc.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        loc = loc.lstrip(".")
        kind = err["type"]
        got = _short(err.get("input"))
        if kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            problems.append(f"Argument {loc!r} must be one of {expected} (got {got}).")
        elif kind == "missing":
            field = loc.split(".")[-1]
            problems.append(f"Argument {loc!r} is missing required field {field!r}.")
        elif kind == "extra_forbidden":
            problems.append(f"Argument {loc!r} is not allowed here.")
        else:
            problems.append(f"Argument {loc!r}: {err['msg']} (got {got}).")
    return ArgumentError(f"{method.full_name}(): " + " ".join(problems))


# ---------------------------------------------------------------- schema helpers


def _json_kind(prop: dict[str, Any]) -> tuple[str, list[Any] | None]:
    """JSON type name and enum values of one property of a JSON schema."""
    variants = prop.get("anyOf", [prop])
    for v in variants:
        if v.get("type") == "null":
            continue
        enum = v.get("enum")
        if "const" in v:
            enum = [v["const"]]
        kind = v.get("type") or ("array" if "items" in v else "object")
        return kind, list(enum) if enum is not None else None
    return "null", None


def _bounds(prop: dict[str, Any]) -> list[float | None] | None:
    """[minimum, maximum] of a number property (`limit`: [1, 100]), else None."""
    for v in prop.get("anyOf", [prop]):
        if "minimum" in v or "maximum" in v:
            return [v.get("minimum"), v.get("maximum")]
    return None


def params_of(method: Method) -> list[dict[str, Any]]:
    """Parameters of a method as plain JSON: name, required, type, enum, description, range
    (``[min, max]`` of a number, else null), and
    ``filled`` (``{value, warning}`` when a script may omit it, see ``Filled``; else null)."""
    schema = method.args.model_json_schema()
    props = schema.get("properties", {})
    filled = {f.name: f for f in method.filled}
    out = []
    for name, field in method.args.model_fields.items():
        kind, enum = _json_kind(props.get(name, {}))
        bounds = _bounds(props.get(name, {}))
        fill = filled.get(name)
        out.append(
            {
                "name": name,
                "required": field.is_required(),
                "type": kind,
                "enum": enum,
                "description": field.description or "",
                "range": bounds,
                "filled": None
                if fill is None
                else {"value": fill.value, "warning": fill.warning(method.full_name)},
            }
        )
    return out


def response_fields(method: Method) -> list[str]:
    return list(method.response.model_fields)


def item_model(method: Method) -> type[BaseModel] | None:
    """The model of one item of a paged list (e.g. Generation), else None."""
    if not method.paged or not method.items_key:
        return None
    ann = method.response.model_fields[method.items_key].annotation
    args = getattr(ann, "__args__", ())
    return args[0] if args else None


def type_text(annotation: Any) -> str:
    """An annotation in Python stub style: `str | None`, `list[RunOutput]`, `Literal["a", "b"]`."""
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    origin = getattr(annotation, "__origin__", None)
    args: tuple[Any, ...] = tuple(getattr(annotation, "__args__", ()))
    if origin is Literal:
        return "Literal[" + ", ".join(json.dumps(a) for a in args) + "]"
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(type_text(a) for a in args)}]"
    if args and (origin is Union or isinstance(annotation, types.UnionType)):
        return " | ".join(type_text(a) for a in args)
    return "Any" if annotation is Any else str(annotation).replace("typing.", "")


def field_spec(field: Any) -> dict[str, Any]:
    """One response field as plain JSON: its stub type, whether FLORA may leave it out
    (`optional`: it then reads as None) or send null, the object it holds (`ref`, in a list
    when `many`) and the values a literal allows."""
    annotation = field.annotation
    ref: str | None = None
    many = False
    enum: list[Any] | None = None
    stack = [annotation]
    while stack:
        ann = stack.pop()
        origin = getattr(ann, "__origin__", None)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            ref = ref or ann.__name__
        elif origin is Literal:
            enum = list(ann.__args__)
        elif origin is list:
            many = True
            stack.extend(ann.__args__)
        elif origin is not dict:
            stack.extend(getattr(ann, "__args__", ()))
    text = type_text(annotation)
    return {"type": text, "optional": not field.is_required(),
            "nullable": text.endswith("| None") or text == "None", "ref": ref, "many": many,
            "enum": enum}  # fmt: skip


def response_types() -> dict[str, dict[str, Any]]:
    """Every object a method returns, nested ones too, as {name: {field: field_spec}}."""
    found: dict[str, dict[str, Any]] = {}
    pending: list[type[BaseModel]] = [m.response for m in METHODS]
    while pending:
        model = pending.pop()
        if model.__name__ in found:
            continue
        found[model.__name__] = {
            (f.alias or name): field_spec(f) for name, f in model.model_fields.items()
        }
        for f in model.model_fields.values():
            pending.extend(inner for inner, _ in _nested_models_of(f.annotation))
    return found


def _nested_models_of(annotation: Any) -> list[tuple[type[BaseModel], None]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, None)]
    out: list[tuple[type[BaseModel], None]] = []
    for arg in getattr(annotation, "__args__", ()):
        out.extend(_nested_models_of(arg))
    return out


def sandbox_spec(model_params: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The surface as plain JSON for the sandbox child, which has no pydantic: per method its
    name, camelCase name, params, positional arguments, list key, whether it pages, the
    example call that pre-flight shows in its hints, and its (model, params) arguments when
    params is a model's open map; `model_params`, each model's param names as far as the host
    knows them when it starts, lets the pre-flight warn of a literal key a model does not list."""
    methods = {
        m.full_name: {
            "name": m.full_name,
            "camel": m.camel_name,
            "params": params_of(m),
            "positional": list(m.positional),
            "items_key": m.items_key,
            "paged": m.paged,
            "example": m.example,
            "response": m.response.__name__,
            "model_params": list(m.model_params) if m.model_params else None,
        }
        for m in METHODS
    }
    return {"methods": methods, "errors": list(ERROR_NAMES), "error_tree": error_tree(),
            "types": response_types(),
            "model_params": {k: list(v) for k, v in (model_params or {}).items()}}  # fmt: skip


def error_tree() -> list[list[Any]]:
    """Each error class as [name, [base names], one-line doc], parents before children, so the
    sandbox builds the same hierarchy scripts catch without importing this package."""
    from client_surface import errors

    tree = []
    for name in ERROR_NAMES:
        cls = getattr(errors, name)
        bases = [b.__name__ for b in cls.__bases__]
        tree.append([name, bases, (cls.__doc__ or "").strip().splitlines()[0]])
    return tree
