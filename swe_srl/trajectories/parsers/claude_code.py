"""Claude Code sessions: ``~/.claude/projects/*/*.jsonl`` and the web export ``{"loglines": [...]}``.

A session file holds one JSON object per line. Conversation lines (``type``
``user`` / ``assistant``) carry ``uuid`` and ``parentUuid`` and form a tree;
``message`` is an Anthropic Messages object (assistant blocks ``thinking`` /
``text`` / ``tool_use``; user content a prompt string or ``tool_result``
blocks). ``progress``, ``system``, ``file-history-snapshot``,
``queue-operation`` and ``summary`` lines are not part of the conversation
(their uuids still link the tree).

Choices:

* **Main chain.** The trajectory follows the chain from the last
  conversation line of the file back to the root, through every line's
  ``parentUuid`` (and a ``compact_boundary``'s ``logicalParentUuid``, so a
  compacted session continues across the compaction; compactions are counted
  in ``meta["compactions"]``). Abandoned branches (edited prompts, retries)
  are left out. Files without tree links (the v1.0 shape whose
  ``parentUuid`` are all null, the web export) are read in file order.
* **Split responses.** One API response is written as several lines (one
  content block each) that share ``message.id``; the lines of every response
  that has a line on the main chain are merged, in file order, so parallel
  ``tool_use`` blocks hanging off each other are all kept.
* **Pairing.** A step's observation is the ``tool_result`` whose
  ``tool_use_id`` is the ``tool_use`` id, wherever it appears in the file
  (``is_error`` -> ``meta["error"]``).
* **Sidechains.** Lines with ``isSidechain: true`` are grouped by
  ``agentId`` and each group is its own trajectory (id
  ``SESSION:agent-AGENT``) whose task is its first user message (the Task
  prompt). A subagent file is exactly one such group. Inline sidechains
  without ``agentId`` (older sessions) are grouped by their root line
  (id ``SESSION:sidechain-ROOTUUID``).
* **Tools.** ``Bash`` -> ``bash``; ``Read`` -> ``str_replace_editor view``
  (``offset``/``limit`` -> ``view_range [offset, offset+limit-1]``);
  ``Write`` -> ``create``; ``Edit`` -> ``str_replace`` (``replace_all`` kept
  only when true; an ``Edit`` with an empty ``old_string`` creates the file,
  so it becomes ``create``); ``MultiEdit`` -> one ``str_replace`` step per
  edit, in order (only the last carries the tool result; the others have
  ``meta["multi_edit"] = [i, n]`` and an empty observation). Every other
  tool (Glob, Grep, Task, WebFetch, TodoWrite, MCP tools...) keeps its name
  and input.
* **Thought.** ``thinking`` and ``text`` blocks since the previous
  ``tool_use`` (text that ends a turn, answered by a new user prompt, is a
  reply to the user and is dropped); text after the last tool use is
  ``meta["final_message"]``.
* **Task.** The first user prompt; wrappers of local commands
  (``<command-name>``, ``<local-command-stdout>``, caveats), ``isMeta``
  lines, interruptions and compaction summaries are not prompts. Later
  prompts go to the next step's ``meta["user_message"]``.
* No final patch (``patch`` is None), outcome unknown.

Lines are read one at a time and reduced at once to the little the
trajectory needs (ids, text, tool inputs and results).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from swe_srl.errors import ParseError
from swe_srl.trajectories import normalize
from swe_srl.trajectories.models import Action, Step, Trajectory
from swe_srl.trajectories.parsers._common import blocks_text, caught, dumps_sorted, json_lines, read_json_document

NAME = "claude-code"

_TYPE_RE = re.compile(rb'"type"\s*:\s*"(user|assistant)"')
_NOT_PROMPTS = ("<command-name>", "<command-message>", "<local-command-stdout>", "<local-command-stderr>",
                "<local-command-caveat>", "<bash-input>", "<bash-stdout>", "<bash-stderr>",
                "[Request interrupted by user", "<system-reminder>")
_SKIPPED_TYPES = {"progress", "system", "file-history-snapshot", "queue-operation", "summary"}


def _result_text(content: Any) -> str:
    return blocks_text(content, ("image",), "tool_result content has type {type}")


def _editor_edit(path: Any, old: Any, new: Any, replace_all: Any, raw: str) -> Action:
    if not isinstance(path, str) or not isinstance(old, str) or not isinstance(new, str):
        raise ParseError("Edit input needs string file_path, old_string and new_string")
    if old == "":
        return normalize.editor({"command": "create", "path": path, "file_text": new}, raw)
    args: dict[str, Any] = {"command": "str_replace", "path": path, "old_str": old, "new_str": new}
    action = normalize.editor(args, raw)
    if replace_all is True:
        action.args["replace_all"] = True
    return action


def claude_actions(name: str, inp: dict[str, Any]) -> list[Action]:
    """Canonical action(s) of one Claude Code ``tool_use`` (several for MultiEdit)."""
    raw = dumps_sorted(inp)
    if name == "Bash":
        command = inp.get("command")
        if not isinstance(command, str):
            raise ParseError("Bash input without a string command")
        return [normalize.bash(command, raw)]
    if name == "Read":
        path = inp.get("file_path")
        if not isinstance(path, str):
            raise ParseError("Read input without a string file_path")
        args: dict[str, Any] = {"command": "view", "path": path}
        offset, limit = inp.get("offset"), inp.get("limit")
        offset = offset if isinstance(offset, int) and not isinstance(offset, bool) else None
        limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None
        if offset is not None or limit is not None:
            start = max(offset or 1, 1)
            args["view_range"] = [start, start + limit - 1 if limit else -1]
        return [normalize.editor(args, raw)]
    if name == "Write":
        path, content = inp.get("file_path"), inp.get("content")
        if not isinstance(path, str) or not isinstance(content, str):
            raise ParseError("Write input needs string file_path and content")
        return [normalize.editor({"command": "create", "path": path, "file_text": content}, raw)]
    if name == "Edit":
        return [_editor_edit(inp.get("file_path"), inp.get("old_string"), inp.get("new_string"),
                             inp.get("replace_all"), raw)]
    if name == "MultiEdit":
        edits = inp.get("edits")
        if not isinstance(edits, list) or not edits or not all(isinstance(e, dict) for e in edits):
            raise ParseError("MultiEdit input needs a non-empty list of edits")
        return [_editor_edit(inp.get("file_path"), e.get("old_string"), e.get("new_string"), e.get("replace_all"), raw)
                for e in edits]
    return [Action(name, inp, raw)]


@dataclass
class _Node:
    """One conversation line, reduced."""

    uuid: str | None
    role: str  # "user" | "assistant"
    msg_id: str | None
    # ("prompt", text) | ("meta", text) | ("compact", text) | ("think", text) | ("tool", (id, name, input)) ...
    items: list[tuple[str, Any]] = field(default_factory=list)
    timestamp: str | None = None


@dataclass
class _Group:
    key: str
    session: str | None = None
    agent: str | None = None
    nodes: list[_Node] = field(default_factory=list)
    linked: bool = False  # some node has a parent
    meta: dict[str, Any] = field(default_factory=dict)


class _Reader:
    """Reduces session lines to groups of nodes, tool results and tree links."""

    def __init__(self) -> None:
        self.parents: dict[str, str | None] = {}
        self.groups: dict[str, _Group] = {}
        self.results: dict[str, tuple[str, bool]] = {}
        self.compact_uuids: set[str] = set()
        self.skipped: Counter[str] = Counter()

    def record(self, rec: Any) -> None:
        if not isinstance(rec, dict):
            raise ParseError("line is not a JSON object")
        rtype = rec.get("type")
        uuid = rec.get("uuid")
        if uuid is not None and not isinstance(uuid, str):
            raise ParseError("uuid is not a string")
        parent = rec.get("parentUuid")
        if parent is None and isinstance(rec.get("logicalParentUuid"), str):
            parent = rec["logicalParentUuid"]
        if parent is not None and not isinstance(parent, str):
            raise ParseError("parentUuid is not a string")
        if uuid is not None:
            self.parents[uuid] = parent
        if rtype not in ("user", "assistant"):
            if rtype == "system" and rec.get("subtype") == "compact_boundary" and uuid:
                self.compact_uuids.add(uuid)
            self.skipped[str(rtype) if rtype in _SKIPPED_TYPES else "other"] += 1
            return
        msg = rec.get("message")
        if not isinstance(msg, dict):
            raise ParseError(f"{rtype} line without a message object")
        sidechain = rec.get("isSidechain") is True
        agent = rec.get("agentId") if isinstance(rec.get("agentId"), str) else None
        key = ("agent-" + agent if agent else "sidechain") if sidechain else "main"
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(key=key, agent=agent)
        if group.session is None and isinstance(rec.get("sessionId"), str):
            group.session = rec["sessionId"]
            for src, dst in (("cwd", "cwd"), ("gitBranch", "git_branch"), ("version", "claude_code_version")):
                if isinstance(rec.get(src), str):
                    group.meta[dst] = rec[src]
        if parent is not None:
            group.linked = True
        if rtype == "assistant" and isinstance(msg.get("model"), str) and msg["model"] != "<synthetic>":
            group.meta["model"] = msg["model"]
        node = _Node(uuid=uuid, role=rtype, msg_id=msg.get("id") if isinstance(msg.get("id"), str) else None,
                     timestamp=rec.get("timestamp") if isinstance(rec.get("timestamp"), str) else None)
        content = msg.get("content")
        if rec.get("isApiErrorMessage") is True:  # "API Error: ..." written by the client, not the model
            self.skipped["api_error"] += 1
            content = None
        if rtype == "user":
            self.user_items(rec, content, node)
        else:
            self.assistant_items(content, node)
        group.nodes.append(node)

    def user_items(self, rec: dict[str, Any], content: Any, node: _Node) -> None:
        if isinstance(content, str):
            texts = [content]
        elif isinstance(content, list):
            texts = []
            for block in content:
                if not isinstance(block, dict):
                    raise ParseError("user content block is not an object")
                btype = block.get("type")
                if btype == "tool_result":
                    tid = block.get("tool_use_id")
                    if not isinstance(tid, str):
                        raise ParseError("tool_result without a string tool_use_id")
                    self.results[tid] = (_result_text(block.get("content")), block.get("is_error") is True)
                elif btype == "text" and isinstance(block.get("text"), str):
                    texts.append(block["text"])
        elif content is None:
            texts = []
        else:
            raise ParseError("user content is neither a string nor a list")
        text = "\n".join(texts)
        if not text.strip():
            return
        if rec.get("isCompactSummary") is True:
            node.items.append(("compact", text))
        elif rec.get("isMeta") is True or text.lstrip().startswith(_NOT_PROMPTS):
            node.items.append(("meta", text))
        else:
            node.items.append(("prompt", text))

    def assistant_items(self, content: Any, node: _Node) -> None:
        if isinstance(content, str):
            if content.strip():
                node.items.append(("think", content))
            return
        if content is None:
            return
        if not isinstance(content, list):
            raise ParseError("assistant content is not a list")
        for block in content:
            if not isinstance(block, dict):
                raise ParseError("assistant content block is not an object")
            btype = block.get("type")
            if btype == "text" and isinstance(block.get("text"), str):
                if block["text"].strip():
                    node.items.append(("think", block["text"]))
            elif btype == "thinking" and isinstance(block.get("thinking"), str):
                if block["thinking"].strip():
                    node.items.append(("think", block["thinking"]))
            elif btype in ("tool_use", "server_tool_use"):
                name, inp, tid = block.get("name"), block.get("input"), block.get("id")
                if not isinstance(name, str):
                    raise ParseError("tool_use without a string name")
                if inp is None:
                    inp = {}
                if not isinstance(inp, dict):
                    raise ParseError(f"{name} tool_use input is not an object")
                # map now, so that a wrong type is reported with this line
                actions = claude_actions(name, inp)
                node.items.append(("tool", (tid if isinstance(tid, str) else None, actions)))


def _chain(group: _Group, parents: dict[str, str | None]) -> list[_Node]:
    """The nodes of the main chain (see the module docstring), in file order."""
    if not group.linked:
        return group.nodes
    leaf = next((n for n in reversed(group.nodes) if n.uuid), None)
    if leaf is None:
        return group.nodes
    on_chain: set[str] = set()
    cur: str | None = leaf.uuid
    while cur is not None and cur not in on_chain:
        on_chain.add(cur)
        cur = parents.get(cur)
    msg_ids = {n.msg_id for n in group.nodes if n.uuid in on_chain and n.role == "assistant" and n.msg_id}
    return [n for n in group.nodes
            if (n.uuid in on_chain) or (n.role == "assistant" and n.msg_id is not None and n.msg_id in msg_ids)]


def _split_by_root(group: _Group, parents: dict[str, str | None]) -> list[_Group]:
    """Inline sidechains without ``agentId`` (older sessions): one group per root."""
    if not group.linked:
        return [group]
    roots: dict[str, str] = {}

    def root_of(uuid: str) -> str:
        path = []
        cur: str | None = uuid
        while cur is not None and cur not in roots and cur not in path:
            path.append(cur)
            nxt = parents.get(cur)
            if nxt is None:
                break
            cur = nxt
        root = roots.get(cur, cur) if cur is not None else uuid
        for u in path:
            roots[u] = root
        return root

    split: dict[str, _Group] = {}
    for node in group.nodes:
        root = root_of(node.uuid) if node.uuid else "none"
        sub = split.get(root)
        if sub is None:
            sub = split[root] = _Group(key=f"sidechain-{root}", session=group.session, linked=True,
                                       meta=dict(group.meta))
        sub.nodes.append(node)
    return list(split.values())


def _build(group: _Group, reader: _Reader, path: Path) -> Trajectory:
    nodes = _chain(group, reader.parents)
    steps: list[Step] = []
    thought: list[str] = []
    problem: str | None = None
    user_message: str | None = None
    compactions = 0
    seen_tools: set[str] = set()
    seen_text: set[tuple[str | None, str]] = set()
    for node in nodes:
        for kind, value in node.items:
            if kind == "prompt":
                if problem is None:
                    problem = value
                else:
                    user_message = value if user_message is None else user_message + "\n\n" + value
                    thought = []  # text before a new prompt was a reply to the user, not a thought
            elif kind == "compact":
                compactions += 1
            elif kind == "think":
                if (node.msg_id, value) in seen_text:  # a block repeated by a re-written line
                    continue
                seen_text.add((node.msg_id, value))
                thought.append(value.strip())
            elif kind == "tool":
                tid, actions = value
                if tid is not None:
                    if tid in seen_tools:
                        continue
                    seen_tools.add(tid)
                result = reader.results.get(tid) if tid is not None else None
                n = len(actions)
                for i, action in enumerate(actions):
                    meta: dict[str, Any] = {}
                    if tid is not None:
                        meta["tool_call_id"] = tid
                    if node.timestamp:
                        meta["timestamp"] = node.timestamp
                    if n > 1:
                        meta["multi_edit"] = [i + 1, n]
                    if user_message is not None:
                        meta["user_message"] = user_message
                        user_message = None
                    observation = ""
                    if i == n - 1 and result is not None:
                        observation = result[0]
                        if result[1]:
                            meta["error"] = True
                    steps.append(Step(action=action, thought="\n\n".join(thought), observation=observation, meta=meta))
                    thought = []
    meta = dict(group.meta)
    if compactions:
        meta["compactions"] = compactions
    if thought:
        meta["final_message"] = "\n\n".join(thought)
    missing = sum(1 for s in steps if "tool_call_id" in s.meta and s.meta["tool_call_id"] not in reader.results)
    if missing:
        meta["tool_uses_without_result"] = missing
    if reader.skipped:
        meta["skipped_lines"] = dict(sorted(reader.skipped.items()))
    session = group.session or path.stem
    if group.key != "main":
        meta["sidechain"] = True
        if group.agent:
            meta["agent_id"] = group.agent
    tid = session if group.key == "main" else f"{session}:{group.key}"
    return Trajectory(id=tid, source_format=NAME, steps=steps, problem_statement=problem or "",
                      patch=None, outcome="unknown", meta=meta)


class ClaudeCodeParser:
    name = NAME

    def detect(self, path: Path, head: bytes) -> float:
        stripped = head.lstrip()
        if not stripped.startswith(b"{"):
            return 0.0
        if b'"loglines"' in stripped[:256]:
            return 0.9
        if b'"parentUuid"' in head and (b'"sessionId"' in head or b'"isSidechain"' in head):
            return 0.95
        if b'"leafUuid"' in head and b'"summary"' in head:
            return 0.8
        if _TYPE_RE.search(head) and b'"message"' in head and (b'"tool_use"' in head or b'"tool_result"' in head):
            return 0.5
        return 0.0

    def parse(self, path: Path) -> Iterator[Trajectory | ParseError]:
        with open(path, "rb") as fh:
            head = fh.read(256).lstrip()
        if head.startswith(b"{") and b'"loglines"' in head:
            yield from self._parse_export(path)
            return
        reader = _Reader()
        for _lineno, where, rec in json_lines(path):
            err = rec if isinstance(rec, ParseError) else caught(lambda: reader.record(rec), where)
            if err is not None:
                yield err
        yield from self._trajectories(reader, path)

    def _parse_export(self, path: Path) -> Iterator[Trajectory | ParseError]:
        data = caught(lambda: read_json_document(path, lenient=True), str(path))
        if isinstance(data, ParseError):
            yield data
            return
        lines = data.get("loglines") if isinstance(data, dict) else None
        if not isinstance(lines, list):
            yield ParseError("loglines is not a list", str(path))
            return
        reader = _Reader()
        for i, rec in enumerate(lines):
            err = caught(lambda: reader.record(rec), f"{path}:loglines[{i}]")
            if err is not None:
                yield err
        yield from self._trajectories(reader, path)

    @staticmethod
    def _trajectories(reader: _Reader, path: Path) -> Iterable[Trajectory | ParseError]:
        if not reader.groups:
            yield ParseError("no conversation lines", str(path))
            return
        keys = sorted(reader.groups, key=lambda k: (k != "main",))  # main first, then sidechains in file order
        groups = []
        for key in keys:
            group = reader.groups[key]
            groups.extend(_split_by_root(group, reader.parents) if key == "sidechain" else [group])
        for group in groups:
            key = group.key
            traj = _build(group, reader, path)
            if not traj.steps:
                where = str(path) if key == "main" else f"{path} ({key})"
                yield ParseError("no steps", where)
            else:
                yield traj
