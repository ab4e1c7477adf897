"""Project canvases of the built-in backend: the definition FLORA's canvas endpoints carry
(nodes, edges, per-node inputs and outputs), the graph view with short ids (`n1`, `n2`, ...)
and a revision, FLORA's changesets (add, update, connect, disconnect, remove, all or nothing),
and the Mermaid flowchart: rendered for `projects.canvas.retrieve`, parsed for the add-only
`projects.canvas.update`.

Everything here works on a `CanvasState` (plain dicts and lists) and raises `CanvasInvalid`
with one entry per problem; the routes load and store the row and answer FLORA's envelope."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flora_backend import actions, catalog

# FLORA's canvas node types by the agent vocabulary the graph reports (and changesets add).
GENERATION_TYPES = {
    "emptyImageBlock": "image",
    "resultImageBlock": "image",
    "inpaintImageBlock": "image",
    "outpaintImageBlock": "image",
    "videoBlock": "video",
    "resultVideoBlock": "video",
    "textBlock": "text",
    "resultTextBlock": "text",
    "audioBlock": "audio",
    "resultAudioBlock": "audio",
}
STATIC_TYPES = {
    "staticImageBlock": "image",
    "staticVideoBlock": "video",
    "staticAudioBlock": "audio",
}
OTHER_VOCABULARY = {
    "staticImageBlock": "static_image",
    "staticVideoBlock": "static_video",
    "staticAudioBlock": "static_audio",
    "group": "group",
    "layerEditorNode": "layer_editor",
    "techniqueBlock": "technique",
    "codeBlock": "action",
    "collectionNode": "batch",
    "routerNode": "router",
    "switchNode": "switch",
    "exportNode": "export",
    "comment": "comment",
    "textLabel": "label",
}
ADD_TYPES = {
    "image": "emptyImageBlock",
    "video": "videoBlock",
    "text": "textBlock",
    "audio": "audioBlock",
    "group": "group",
    "static_image": "staticImageBlock",
    "layer_editor": "layerEditorNode",
}
STATIC_OF = {"image": "staticImageBlock", "video": "staticVideoBlock", "audio": "staticAudioBlock"}
# The node a generation (or technique run) started through the API is on its project's canvas.
RESULT_OF = {
    "image": "resultImageBlock",
    "video": "resultVideoBlock",
    "text": "resultTextBlock",
    "audio": "resultAudioBlock",
}
ACTION_TYPE = "codeBlock"  # a prebuilt action node (projects.actions.create)
MERMAID_KIND = {"image": "Image", "video": "Video", "text": "Text", "audio": "Audio"}
COLUMN_W, ROW_H = 320.0, 240.0


class CanvasInvalid(Exception):
    """The request would leave the canvas invalid: every problem, as FLORA's error fields."""

    def __init__(self, fields: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{f['field']}: {f['message']}" for f in fields))
        self.fields = fields


def vocabulary(node_type: str) -> str:
    if node_type in GENERATION_TYPES:
        return GENERATION_TYPES[node_type]
    if node_type in OTHER_VOCABULARY:
        return OTHER_VOCABULARY[node_type]
    word = re.sub(r"(Node|Block)$", "", node_type)
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", word).lower()


def media_of(node: dict[str, Any]) -> str | None:
    """The modality a node produces (image, video, text, audio), if any: an action node's is
    its action's kind."""
    t = node["type"]
    if t == ACTION_TYPE:
        action = actions.BY_ID.get(str(node.get("data", {}).get("action_id")))
        return action.kind if action is not None else None
    return GENERATION_TYPES.get(t) or STATIC_TYPES.get(t) or ("text" if t == "textLabel" else None)


# ---------------------------------------------------------------- the state


@dataclass
class CanvasState:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    node_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    node_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    layer_editor_documents: dict[str, dict[str, Any]] | None = None
    short_ids: dict[str, str] = field(default_factory=dict)
    next_short: int = 1

    def copy(self) -> CanvasState:
        return copy.deepcopy(self)

    def node(self, node_id: str) -> dict[str, Any] | None:
        return next((n for n in self.nodes if n["id"] == node_id), None)

    def short(self, node_id: str) -> str:
        """The node's short id, given on first sight and kept for the node's life."""
        if node_id not in self.short_ids:
            taken = set(self.short_ids.values())
            while f"n{self.next_short}" in taken:
                self.next_short += 1
            self.short_ids[node_id] = f"n{self.next_short}"
            self.next_short += 1
        return self.short_ids[node_id]

    def assign_short_ids(self) -> None:
        live = {n["id"] for n in self.nodes}
        self.short_ids = {k: v for k, v in self.short_ids.items() if k in live}
        for n in self.nodes:
            self.short(n["id"])

    def resolve(self, ref: str) -> str | None:
        """The node id a short id or node id names."""
        for node_id, short in self.short_ids.items():
            if short == ref and self.node(node_id) is not None:
                return node_id
        return ref if self.node(ref) is not None else None

    def inputs(self, node_id: str) -> dict[str, Any]:
        """prompt, model and params of a node (node_inputs first, then its data)."""
        node = self.node(node_id) or {"data": {}}
        given = self.node_inputs.get(node_id, {})
        data = node.get("data", {})
        return {
            "prompt": given.get("prompt", data.get("prompt")),
            "model": given.get("model", data.get("model")),
            "params": given.get("params", data.get("params")),
        }

    def next_position(self, index: int = 0) -> dict[str, float]:
        """Below the existing content, one column per node placed in the same request."""
        bottom = max((n["position"]["y"] for n in self.nodes), default=-ROW_H)
        return {"x": COLUMN_W * index, "y": bottom + ROW_H}

    def place(
        self,
        node_type: str,
        data: dict[str, Any],
        *,
        inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        sources: Iterable[str] = (),
    ) -> str:
        """A new node below the existing content (fed by `sources`, in order): its node id."""
        node_id = new_node_id()
        position = self.next_position()
        self.nodes.append({"id": node_id, "type": node_type, "data": data, "position": position})
        if inputs is not None:
            self.node_inputs[node_id] = inputs
        if outputs is not None:
            self.node_outputs[node_id] = outputs
        for source in sources:
            self.edges.append(_edge(source, node_id, media_of(self.node(source) or {"type": ""})))
        self.short(node_id)
        return node_id

    def definition(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "edges": self.edges,
            "node_inputs": self.node_inputs,
            "node_outputs": self.node_outputs,
            "nodes": self.nodes,
        }
        if self.layer_editor_documents:
            out["layer_editor_documents"] = self.layer_editor_documents
        return out

    def summary(self) -> dict[str, int]:
        groups = [n for n in self.nodes if n["type"] == "group"]
        members = [n["id"] for n in self.nodes if n["type"] != "group"]
        linked: dict[str, set[str]] = {m: set() for m in members}
        for e in self.edges:
            if e["source"] in linked and e["target"] in linked:
                linked[e["source"]].add(e["target"])
                linked[e["target"]].add(e["source"])
        seen: set[str] = set()
        workflows = 0
        for start in members:
            if start in seen or not linked[start]:
                continue
            workflows += 1
            stack = [start]
            while stack:
                cur = stack.pop()
                if cur not in seen:
                    seen.add(cur)
                    stack.extend(linked[cur] - seen)
        return {
            "edge_count": len(self.edges),
            "group_count": len(groups),
            "isolated_node_count": sum(1 for m in members if not linked[m]),
            "node_count": len(members),
            "workflow_count": workflows,
        }


def new_node_id() -> str:
    return str(uuid.uuid4())


def _edge(source: str, target: str, slot: str | None) -> dict[str, Any]:
    return {
        "id": "edge_" + uuid.uuid4().hex[:20],
        "source": source,
        "source_handle": None,
        "target": target,
        "target_handle": slot,
    }


def _has_edge(state: CanvasState, source: str, target: str) -> bool:
    return any(e["source"] == source and e["target"] == target for e in state.edges)


def _model_params(
    media: str, model: str | None, params: dict[str, Any] | None, where: str
) -> tuple[str, dict[str, Any]]:
    try:
        found = catalog.resolve_model(media, model)
        return found.model_id, catalog.validate_params(found, params)
    except catalog.CatalogError as exc:
        raise CanvasInvalid([{"field": f"{where}.{exc.field}", "message": exc.message}]) from None


def _https(url: str) -> bool:
    return re.match(r"^https://[^\s/]+", url) is not None


# ---------------------------------------------------------------- replace


def replace(state: CanvasState, definition: dict[str, Any]) -> CanvasState:
    """The state holding `definition` (validated whole), short ids kept for surviving nodes."""
    problems: list[dict[str, str]] = []
    nodes = [dict(n) for n in definition["nodes"]]
    ids = [n["id"] for n in nodes]
    for i, node_id in enumerate(ids):
        if ids.index(node_id) != i:
            problems.append({"field": f"nodes[{i}].id", "message": f"duplicate node id {node_id}"})
    known = set(ids)
    groups = {n["id"] for n in nodes if n["type"] == "group"}
    for i, n in enumerate(nodes):
        parent = n.get("parent_id")
        if parent is not None and parent not in groups:
            problems.append(
                {"field": f"nodes[{i}].parent_id", "message": f"{parent} is not a group node"}
            )
    edge_ids = [e["id"] for e in definition["edges"]]
    for i, e in enumerate(definition["edges"]):
        if edge_ids.index(e["id"]) != i:
            problems.append({"field": f"edges[{i}].id", "message": f"duplicate edge id {e['id']}"})
        for end in ("source", "target"):
            if e[end] not in known:
                problems.append(
                    {"field": f"edges[{i}].{end}", "message": f"no node {e[end]} on the canvas"}
                )
    for key in ("node_inputs", "node_outputs", "layer_editor_documents"):
        for node_id in definition.get(key) or {}:
            if node_id not in known:
                problems.append({"field": f"{key}.{node_id}", "message": "no such node"})
    if problems:
        raise CanvasInvalid(problems)
    placed = 0
    for n in nodes:
        if n.get("position") is None:  # deterministic automatic layout: a grid in list order
            n["position"] = {"x": COLUMN_W * (placed % 4), "y": ROW_H * (placed // 4)}
            placed += 1
        n["position"] = {"x": n["position"]["x"], "y": n["position"]["y"]}
    out = CanvasState(
        nodes=nodes,
        edges=[dict(e) for e in definition["edges"]],
        node_inputs=dict(definition["node_inputs"]),
        node_outputs=dict(definition["node_outputs"]),
        layer_editor_documents=definition.get("layer_editor_documents") or None,
        short_ids=dict(state.short_ids),
        next_short=state.next_short,
    )
    out.assign_short_ids()
    return out


# ---------------------------------------------------------------- changesets


@dataclass
class ChangesetResult:
    state: CanvasState
    applied: dict[str, int]
    created: dict[str, dict[str, str]]
    warnings: list[str]


def apply_changeset(state: CanvasState, ops: dict[str, list[dict[str, Any]]]) -> ChangesetResult:
    """The changeset applied to a copy of `state`, in FLORA's order (add with groups first,
    update, connect, disconnect, remove), or CanvasInvalid naming every problem."""
    s = state.copy()
    s.assign_short_ids()
    problems: list[dict[str, str]] = []
    warnings: list[str] = []
    applied = dict.fromkeys(("added", "updated", "connected", "disconnected", "removed"), 0)
    refs: dict[str, str] = {}

    def bad(where: str, code: str, message: str) -> None:
        problems.append({"field": where, "message": f"{code}: {message}"})

    def lookup(ref: str) -> str | None:
        return refs.get(ref) or s.resolve(ref)

    adds = list(enumerate(ops.get("add") or []))
    adds.sort(key=lambda item: item[1]["type"] != "group")
    for placed, (i, op) in enumerate(adds):
        where = f"add[{i}]"
        ref = op["ref"]
        if ref in refs or s.resolve(ref) is not None:
            bad(f"{where}.ref", "ref_conflict", f"{ref!r} is already a node id or a ref")
            continue
        kind = op["type"]
        node_type = ADD_TYPES[kind]
        data: dict[str, Any] = {}
        inputs: dict[str, Any] = {}
        media = GENERATION_TYPES.get(node_type)
        if op.get("content_url") is not None:
            if any(op.get(k) is not None for k in ("prompt", "model", "params")):
                bad(where, "content_url_exclusive", "content_url excludes prompt, model, params")
                continue
            media = media or STATIC_TYPES.get(node_type)
            if media not in STATIC_OF:
                bad(f"{where}.content_url", "unsupported", f"a {kind} node places no media")
                continue
            if not _https(op["content_url"]):
                bad(f"{where}.content_url", "invalid_url", "must be an https URL")
                continue
            node_type = STATIC_OF[media]
            data["url"] = op["content_url"]
        elif media is not None:
            try:
                model_id, params = _model_params(media, op.get("model"), op.get("params"), where)
            except CanvasInvalid as exc:
                problems.extend(exc.fields)
                continue
            inputs = {"prompt": op.get("prompt"), "model": model_id, "params": params}
        elif any(op.get(k) is not None for k in ("prompt", "model", "params")):
            bad(where, "not_generative", f"a {kind} node takes no prompt, model or params")
            continue
        if op.get("label") is not None:
            data["label"] = op["label"]
        node_id = new_node_id()
        pos = op.get("position")
        node: dict[str, Any] = {
            "id": node_id,
            "type": node_type,
            "data": data,
            "position": {"x": pos["x"], "y": pos["y"]} if pos else s.next_position(placed),
        }
        if op.get("group") is not None:
            parent = lookup(op["group"])
            if parent is None or (s.node(parent) or {}).get("type") != "group":
                bad(f"{where}.group", "group_not_found", f"{op['group']!r} is not a group")
                continue
            node["parent_id"] = parent
        s.nodes.append(node)
        if inputs:
            s.node_inputs[node_id] = inputs
        refs[ref] = node_id
        applied["added"] += 1

    for i, op in enumerate(ops.get("update") or []):
        where = f"update[{i}]"
        target_id = s.resolve(op["id"])
        if target_id is None:
            bad(f"{where}.id", "node_not_found", f"no node {op['id']!r}")
            continue
        node = s.node(target_id) or {}
        before = copy.deepcopy((node, s.node_inputs.get(target_id)))
        media = GENERATION_TYPES.get(node["type"])
        if any(op.get(k) is not None for k in ("prompt", "model", "params")):
            if media is None:
                bad(
                    where,
                    "not_generative",
                    f"{op['id']} ({vocabulary(node['type'])}) takes no prompt, model or params",
                )
                continue
            current = s.inputs(target_id)
            params = {**(current["params"] or {}), **(op.get("params") or {})}
            try:
                model_id, params = _model_params(
                    media, op.get("model") or current["model"], params, where
                )
            except CanvasInvalid as exc:
                problems.extend(exc.fields)
                continue
            prompt = op["prompt"] if op.get("prompt") is not None else current["prompt"]
            s.node_inputs[target_id] = {"prompt": prompt, "model": model_id, "params": params}
        if op.get("label") is not None:
            node["data"] = {**node["data"], "label": op["label"]}
        if op.get("position") is not None:
            node["position"] = {"x": op["position"]["x"], "y": op["position"]["y"]}
        if copy.deepcopy((node, s.node_inputs.get(target_id))) != before:
            applied["updated"] += 1
        else:
            warnings.append(f"update[{i}]: {op['id']} already matched; nothing changed")

    for i, op in enumerate(ops.get("connect") or []):
        where = f"connect[{i}]"
        source, target = lookup(op["from"]), lookup(op["to"])
        if source is None or target is None:
            missing = op["from"] if source is None else op["to"]
            bad(where, "node_not_found", f"no node or ref {missing!r}")
            continue
        if source == target:
            bad(where, "self_edge", "a node cannot feed itself")
            continue
        if _has_edge(s, source, target):
            warnings.append(f"{where}: {op['from']} -> {op['to']} already connected; skipped")
            continue
        slot = op.get("in") or media_of(s.node(source) or {"type": ""})
        s.edges.append(_edge(source, target, slot))
        applied["connected"] += 1

    for i, op in enumerate(ops.get("disconnect") or []):
        where = f"disconnect[{i}]"
        source, target = s.resolve(op["from"]), s.resolve(op["to"])
        if source is None or target is None:
            missing = op["from"] if source is None else op["to"]
            bad(where, "node_not_found", f"no node {missing!r}")
            continue
        slot = op.get("in")
        keep = [
            e
            for e in s.edges
            if not (
                e["source"] == source
                and e["target"] == target
                and (slot is None or e["target_handle"] == slot)
            )
        ]
        if len(keep) == len(s.edges):
            warnings.append(f"{where}: no edge {op['from']} -> {op['to']}; nothing removed")
        applied["disconnected"] += len(s.edges) - len(keep)
        s.edges = keep

    for i, op in enumerate(ops.get("remove") or []):
        target_id = s.resolve(op["id"])
        if target_id is None:
            bad(f"remove[{i}].id", "node_not_found", f"no node {op['id']!r}")
            continue
        doomed = {target_id}
        grew = True
        while grew:  # group members go with their frame
            more = {n["id"] for n in s.nodes if n.get("parent_id") in doomed} - doomed
            grew = bool(more)
            doomed |= more
        s.nodes = [n for n in s.nodes if n["id"] not in doomed]
        s.edges = [e for e in s.edges if e["source"] not in doomed and e["target"] not in doomed]
        for gone in doomed:
            s.node_inputs.pop(gone, None)
            s.node_outputs.pop(gone, None)
            if s.layer_editor_documents:
                s.layer_editor_documents.pop(gone, None)
        applied["removed"] += len(doomed)

    if problems:
        raise CanvasInvalid(problems)
    s.assign_short_ids()
    created = {ref: {"id": s.short(node_id), "node_id": node_id} for ref, node_id in refs.items()}
    return ChangesetResult(s, applied, created, warnings)


# ---------------------------------------------------------------- the graph view


@dataclass(frozen=True)
class NodeRun:
    """What a node's latest run says: status, output, failure."""

    status: str  # generating | done | error
    output_url: str | None = None
    output_text: str | None = None
    error_code: str | None = None
    error_message: str | None = None


def absolute(state: CanvasState, node: dict[str, Any]) -> dict[str, float]:
    x, y = node["position"]["x"], node["position"]["y"]
    parent = state.node(node["parent_id"]) if node.get("parent_id") else None
    seen = {node["id"]}
    while parent is not None and parent["id"] not in seen:
        seen.add(parent["id"])
        x, y = x + parent["position"]["x"], y + parent["position"]["y"]
        parent = state.node(parent["parent_id"]) if parent.get("parent_id") else None
    return {"x": x, "y": y}


def graph_nodes(
    state: CanvasState, run_of: Callable[[str], NodeRun | None]
) -> list[dict[str, Any]]:
    out = []
    for node in state.nodes:
        node_id = node["id"]
        data = node.get("data", {})
        generative = node["type"] in GENERATION_TYPES
        inputs = state.inputs(node_id) if generative else {"prompt": None, "model": None}
        params = inputs.get("params") if generative else None
        model = catalog.BY_ID.get(inputs["model"] or "")
        stored = state.node_outputs.get(node_id, {})
        run = run_of(stored["run_id"]) if stored.get("run_id") else None
        is_action = node["type"] == ACTION_TYPE
        action = (
            {"action_id": data.get("action_id"), "params": data.get("params") or None}
            if is_action
            else None
        )
        if is_action or generative:
            status = run.status if run else "idle"
        else:
            status = None
        view: dict[str, Any] = {
            "id": state.short(node_id),
            "action": action,
            "label": str(data.get("label") or (inputs["prompt"] or "")[:80]),
            "model": model.name if model else inputs["model"],
            "model_id": inputs["model"],
            "node_id": node_id,
            "output_text": run.output_text if run else stored.get("text"),
            "output_url": run.output_url if run else stored.get("url") or data.get("url"),
            "params": params or None,
            "position": absolute(state, node),
            "prompt": inputs["prompt"],
            "status": status,
            "type": vocabulary(node["type"]),
        }
        if run is not None and run.status == "error":
            view["error_code"] = run.error_code or "internal_error"
            view["error_message"] = run.error_message or "The generation failed."
        out.append(view)
    return out


def graph_edges(state: CanvasState) -> list[dict[str, Any]]:
    return [
        {
            "from": state.short(e["source"]),
            "in": e.get("target_handle"),
            "to": state.short(e["target"]),
        }
        for e in state.edges
        if state.node(e["source"]) and state.node(e["target"])
    ]


def run_order(state: CanvasState, node_ids: Iterable[str]) -> list[str]:
    """`node_ids` with every upstream node before the nodes it feeds (a cycle keeps list order)."""
    wanted = list(dict.fromkeys(node_ids))
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(node_id: str) -> None:
        if node_id in ordered or node_id in visiting:
            return
        visiting.add(node_id)
        for e in state.edges:
            if e["target"] == node_id and e["source"] in wanted:
                visit(e["source"])
        ordered.append(node_id)

    for node_id in wanted:
        visit(node_id)
    return ordered


# ---------------------------------------------------------------- Mermaid


def _escape(label: str) -> str:
    return label.replace('"', "#quot;").replace("\n", " ")


def to_mermaid(state: CanvasState) -> str:
    lines = ["graph LR"]
    for node in state.nodes:
        kind = vocabulary(node["type"])
        media = media_of(node)
        word = MERMAID_KIND.get(media or "", kind.replace("_", " ").capitalize())
        if node["type"] == "group":
            word = "Group"
        data = node.get("data", {})
        text = str(data.get("label") or state.inputs(node["id"])["prompt"] or "")
        text = text if len(text) <= 60 else text[:57] + "..."
        label = f"{text} ({word})" if text else f"({word})"
        lines.append(f'  {state.short(node["id"])}["{_escape(label)}"]')
    for e in graph_edges(state):
        lines.append(f"  {e['from']} --> {e['to']}")
    return "\n".join(lines)


_HEADER = re.compile(r"^(graph|flowchart)(\s+(TB|TD|BT|RL|LR))?\s*$", re.IGNORECASE)
_IGNORED = re.compile(r"^(classDef|class|style|linkStyle|click|direction)\b")
_ID = re.compile(r"[A-Za-z0-9_][\w-]*")
_SHAPES = (("([", "])"), ("[[", "]]"), ("((", "))"), ("{{", "}}"), ("[/", "/]"), ("[", "]"),
           ("(", ")"), ("{", "}"), (">", "]"))  # fmt: skip
_REMOVING = re.compile(r"^\s*(x|<)?-{2,}x|^\s*(remove|delete|del)\b", re.IGNORECASE)
_LINK = re.compile(
    r"\s*(?:<?(?:-{2,}>|-{3,}|={2,}>|={3,}|-\.+->|-\.+-|~{3,}|-{2,}o|o-{2,}o)"
    r"(?:\|[^|]*\|)?|--\s+[^->|]+?\s+-{2,}>)\s*"
)
_CROSS = re.compile(r"\s*x?-{2,}x(?:\|[^|]*\|)?\s*")
_KIND_SUFFIX = re.compile(r"\s*\((image|video|text|audio)\)\s*$", re.IGNORECASE)


@dataclass
class MermaidNode:
    key: str
    label: str | None  # None: the id only, as an edge endpoint


@dataclass
class Diagram:
    declared: dict[str, MermaidNode]
    order: list[str]
    edges: list[tuple[str, str]]
    subgraphs: int


def _node_at(text: str, i: int, line_no: int) -> tuple[MermaidNode, int]:
    m = _ID.match(text, i)
    if m is None:
        raise _diagram(f"line {line_no}: expected a node id at {text[i : i + 20]!r}")
    key, j = m.group(0), m.end()
    for opening, closing in _SHAPES:
        if text.startswith(opening, j):
            end = text.find(closing, j + len(opening))
            if end < 0:
                raise _diagram(f"line {line_no}: {opening!r} after {key!r} is never closed")
            label = text[j + len(opening) : end].strip()
            if len(label) >= 2 and label[0] == label[-1] == '"':
                label = label[1:-1]
            return MermaidNode(key, label.replace("#quot;", '"')), end + len(closing)
    return MermaidNode(key, None), j


def _diagram(message: str) -> CanvasInvalid:
    return CanvasInvalid([{"field": "diagram", "message": message}])


def parse_mermaid(diagram: str) -> Diagram:
    """Nodes (in order of first mention) and edges of a Mermaid flowchart, or CanvasInvalid.
    Anything that removes (a cross edge `--x`, a remove or delete statement) is refused."""
    lines = [
        (n, part.strip())
        for n, raw in enumerate(diagram.splitlines(), 1)
        for part in raw.split(";")
        if part.strip() and not part.strip().startswith("%%")
    ]
    if not lines or not _HEADER.match(lines[0][1]):
        raise _diagram(
            "must start with a Mermaid flowchart header such as 'graph LR' or 'flowchart TD'"
        )
    out = Diagram({}, [], [], 0)
    for line_no, text in lines[1:]:
        if _REMOVING.search(text) or _CROSS.search(text):
            raise _diagram(
                f"line {line_no}: "
                "projects.canvas.update only adds nodes and edges; remove them "
                "with workspaces.projects.canvas.apply_changeset"
            )
        if text == "end" or text.startswith("subgraph"):
            out.subgraphs += text.startswith("subgraph")
            continue
        if _IGNORED.match(text):
            continue
        i, previous = 0, None
        while True:
            group: list[str] = []
            while True:
                node, i = _node_at(text, i, line_no)
                if node.key not in out.declared:
                    out.declared[node.key] = node
                    out.order.append(node.key)
                elif node.label is not None and out.declared[node.key].label is None:
                    out.declared[node.key] = node
                group.append(node.key)
                amp = re.match(r"\s*&\s*", text[i:])
                if amp is None:
                    break
                i += amp.end()
            if previous is not None:
                out.edges.extend((a, b) for a in previous for b in group)
            if i >= len(text.rstrip()):
                break
            link = _LINK.match(text, i)
            if link is None:
                raise _diagram(f"line {line_no}: cannot read {text[i : i + 30]!r}")
            i, previous = link.end(), group
            if i >= len(text):
                raise _diagram(f"line {line_no}: an edge needs a target node")
    return out


def kind_of_label(label: str) -> tuple[str, str]:
    """(media type, prompt) of a Mermaid label such as 'A red fox (Image)'; image when unsaid."""
    m = _KIND_SUFFIX.search(label)
    if m is None:
        return "image", label.strip()
    return m.group(1).lower(), label[: m.start()].strip()


@dataclass
class MermaidResult:
    state: CanvasState
    created_nodes: int
    created_edges: int
    warnings: list[str]


def apply_mermaid(
    state: CanvasState, diagram: str, node_params: dict[str, dict[str, Any]]
) -> MermaidResult:
    """FLORA's add-only update: declared nodes are new nodes (re-declaring an existing short id
    makes a new one, with a warning); a bare id in an edge names an existing node."""
    parsed = parse_mermaid(diagram)
    s = state.copy()
    s.assign_short_ids()
    warnings: list[str] = []
    problems: list[dict[str, str]] = []
    if parsed.subgraphs:
        warnings.append("subgraph grouping is not applied: its nodes were added ungrouped")
    for key in node_params:
        if key not in parsed.declared:
            problems.append({"field": f"node_params.{key}", "message": "no such node in diagram"})
    made: dict[str, str] = {}
    placed = 0
    for key in parsed.order:
        node = parsed.declared[key]
        existing = s.resolve(key)
        if node.label is None and existing is not None:
            made[key] = existing
            continue
        if node.label is not None and existing is not None:
            warnings.append(
                f"{key} re-declared with a label: a NEW node was created; to attach "
                f"to the existing {key}, use it in an edge without a label"
            )
        label = node.label if node.label is not None else key
        media, prompt = kind_of_label(label)
        given = node_params.get(key, {})
        where = f"node_params.{key}"
        data: dict[str, Any] = {"label": label}
        node_id = new_node_id()
        if given.get("content_url") is not None:
            if given.get("prompt") is not None:
                problems.append(
                    {"field": where, "message": "prompt and content_url exclude each other"}
                )
                continue
            if media not in STATIC_OF:
                problems.append(
                    {
                        "field": f"{where}.content_url",
                        "message": "only Image, Video and Audio nodes place media",
                    }
                )
                continue
            if not _https(given["content_url"]):
                problems.append({"field": f"{where}.content_url", "message": "must be https"})
                continue
            data["url"] = given["content_url"]
            node_type = STATIC_OF[media]
        else:
            node_type = ADD_TYPES[media]
            params = dict(given.get("model_parameters") or {})
            for name in ("aspect_ratio", "resolution"):
                if given.get(name) is not None:
                    params[name] = given[name]
            try:
                model_id, params = _model_params(media, given.get("model"), params, where)
            except CanvasInvalid as exc:
                problems.extend(exc.fields)
                continue
            s.node_inputs[node_id] = {
                "prompt": given.get("prompt") or prompt or None,
                "model": model_id,
                "params": params,
            }
        s.nodes.append(
            {"id": node_id, "type": node_type, "data": data, "position": s.next_position(placed)}
        )
        placed += 1
        made[key] = node_id
    if problems:
        raise CanvasInvalid(problems)
    edges = 0
    for a, b in parsed.edges:
        source, target = made[a], made[b]
        if source == target or _has_edge(s, source, target):
            warnings.append(f"{a} --> {b}: already connected or a self edge; skipped")
            continue
        s.edges.append(_edge(source, target, media_of(s.node(source) or {"type": ""})))
        edges += 1
    s.assign_short_ids()
    return MermaidResult(s, placed, edges, warnings)
