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
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

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
        '(e.g. {"aspect_ratio": "square_1_1"}).',
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
    type: IoType = Field(description="Input type: imageUrl, videoUrl, audioUrl, text, documentUrl.")
    value: str = Field(description="The URL, or the text itself for a text input.")


class TechniqueRunsCreateArgs(Args):
    id_or_slug: str = Field(description="Technique id (tech_...) or slug (e.g. thumbnail-v3).")
    inputs: list[TechniqueRunInput] = Field(
        description="One entry per technique input: {id, type, value}."
    )
    mode: str = Field(
        "async", description='Run mode; "async" (the default) returns a pending Run to poll.'
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


class Obj(BaseModel):
    """Base for response objects: fields FLORA adds are kept."""

    model_config = ConfigDict(extra="allow")


class Meta(Obj):
    next_cursor: str | None = None


class Workspace(Obj):
    workspace_id: str
    name: str | None = None
    role: str | None = None
    created_at: str | None = None


class WorkspaceList(Obj):
    workspaces: list[Workspace] = []


class Project(Obj):
    project_id: str
    name: str | None = None
    workspace_id: str | None = None
    created_at: str | None = None
    last_modified: str | None = None
    origin: str | None = None


class ProjectList(Obj):
    projects: list[Project] = []
    meta: Meta = Meta()


class Node(Obj):
    pass


class NodeList(Obj):
    nodes: list[Node] = []
    meta: Meta = Meta()


class ParamOption(Obj):
    label: str | None = None
    value: Any = None
    description: str | None = None


class ModelParam(Obj):
    name: str
    type: str | None = None
    required: bool = False
    default: Any = None
    label: str | None = None
    description: str | None = None
    min: float | None = None
    max: float | None = None
    options: list[ParamOption] | None = None


class Model(Obj):
    model_id: str
    name: str | None = None
    type: str | None = None
    provider: str | None = None
    capabilities: list[str] = []
    estimated_credits: float | None = None
    estimated_seconds: float | None = None
    params: list[ModelParam] = []
    beta: bool | None = None


class ModelList(Obj):
    models: list[Model] = []


class RunOutput(Obj):
    output_id: str | None = None
    type: str | None = None
    url: str | None = None


class Run(Obj):
    run_id: str
    status: str | None = None
    progress: float | None = None
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    charged_cost: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    outputs: list[RunOutput] | None = None
    poll_url: str | None = None


class ModelRef(Obj):
    model_id: str | None = None


class TechniqueRef(Obj):
    technique_id: str | None = None
    name: str | None = None


class RunStart(Obj):
    run_id: str
    type: str | None = None
    charged_cost: float | None = None
    estimated_seconds: float | None = None
    poll_url: str | None = None
    project_id: str | None = None
    model: ModelRef | None = None
    technique: TechniqueRef | None = None


class Generation(Run):
    generation_id: str | None = None
    workspace_id: str | None = None
    project_id: str | None = None
    model: Any = None


class GenerationList(Obj):
    generations: list[Generation] = []
    meta: Meta = Meta()


class TechniqueIo(Obj):
    id: str
    name: str | None = None
    type: str | None = None
    description: str | None = None
    optional: bool | None = None


class Technique(Obj):
    technique_id: str
    name: str | None = None
    description: str | None = None
    run_cost: float | None = None
    inputs: list[TechniqueIo] = []
    outputs: list[TechniqueIo] = []


class TechniqueList(Obj):
    techniques: list[Technique] = []
    meta: Meta = Meta()


class TechniqueRun(Run):
    technique_id: str | None = None
    workspace_id: str | None = None
    project_id: str | None = None


class TechniqueRunList(Obj):
    technique_runs: list[TechniqueRun] = []
    meta: Meta = Meta()


class FeedbackReceipt(Obj):
    feedback_id: str
    received_at: float


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
    "node_id": "node",
    "action_id": "action",
    "output_id": "output",
}


def check_path_value(method_name: str, name: str, value: Any) -> str:
    """`value` for the path segment `name`, or `ArgumentError` saying the shape expected."""
    kind = ID_KINDS.get(ID_ARGUMENTS.get(name, ""))
    if kind is None:  # a path argument the table gives no kind: the safe charset still holds
        kind = _plain(name)
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

    @property
    def full_name(self) -> str:
        return f"{self.resource}.{self.name}"

    @property
    def camel_name(self) -> str:
        return ".".join(_camel(s) for s in self.full_name.split("."))

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)}", self.path))


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
        example='client.techniques.runs.create("thumbnail-v3", inputs=[{"id": "image", '
        '"type": "imageUrl", "value": "https://example.com/a.png"}])',
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
)  # fmt: skip

_BY_NAME: dict[str, Method] = {}
for _m in SURFACE:
    _BY_NAME[_m.full_name] = _m
    _BY_NAME[_m.camel_name] = _m


def find(name: str) -> Method | None:
    """The method called ``name`` (snake or camelCase, optional ``client.`` prefix)."""
    name = name.strip()
    if name.startswith("client."):
        name = name[len("client.") :]
    return _BY_NAME.get(name)


def method_names() -> list[str]:
    return [m.full_name for m in SURFACE]


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
    with did-you-mean suggestions and the valid values of enums.
    """
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
    try:
        validated = method.args.model_validate(arguments)
    except ValidationError as exc:
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
        raise ArgumentError(f"{call}: " + " ".join(problems)) from None
    for name in method.path_params:
        check_path_value(method.full_name, name, getattr(validated, name))
    return validated


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


def params_of(method: Method) -> list[dict[str, Any]]:
    """Parameters of a method as plain JSON: name, required, type, enum, description, and
    ``filled`` (``{value, warning}`` when a script may omit it, see ``Filled``; else null)."""
    schema = method.args.model_json_schema()
    props = schema.get("properties", {})
    filled = {f.name: f for f in method.filled}
    out = []
    for name, field in method.args.model_fields.items():
        kind, enum = _json_kind(props.get(name, {}))
        fill = filled.get(name)
        out.append(
            {
                "name": name,
                "required": field.is_required(),
                "type": kind,
                "enum": enum,
                "description": field.description or "",
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


def sandbox_spec() -> dict[str, Any]:
    """The surface as plain JSON for the sandbox child, which has no pydantic: per method its
    name, camelCase name, params, positional arguments, list key, whether it pages, and the
    example call that pre-flight shows in its hints."""
    methods = {
        m.full_name: {
            "name": m.full_name,
            "camel": m.camel_name,
            "params": params_of(m),
            "positional": list(m.positional),
            "items_key": m.items_key,
            "paged": m.paged,
            "example": m.example,
        }
        for m in SURFACE
    }
    return {"methods": methods, "errors": list(ERROR_NAMES), "error_tree": error_tree()}


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
