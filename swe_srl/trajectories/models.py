"""Canonical trajectory data: :class:`Action`, :class:`Step`, :class:`Trajectory`.

Plain dataclasses (cheap to build by the hundred thousand while converting);
the JSON schema is derived from them with pydantic (:func:`json_schema`) and
checked into ``trajectories/schema.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from swe_srl.formats import TRAJECTORY

FORMAT_TAG = TRAJECTORY.tag

CANONICAL_TOOLS = ("bash", "str_replace_editor", "submit")
EDITOR_COMMANDS = ("view", "create", "str_replace", "insert", "undo_edit")

Outcome = Literal["resolved", "unresolved", "unknown"]


@dataclass
class Action:
    """One environment-consumable action.

    ``tool`` is ``bash``, ``str_replace_editor`` or ``submit`` when the action
    maps to a canonical tool; any other tool keeps its own name and arguments.
    ``raw`` is the text as the agent wrote it (a command string, a JSON
    arguments string, a fenced block...).
    """

    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    raw: str = ""

    def render(self) -> str:
        """The canonical rendering: an SWE-agent XML function call."""
        from swe_srl.trajectories.render import render_action

        return render_action(self.tool, self.args)

    def to_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "args": self.args, "raw": self.raw}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Action":
        return cls(tool=d["tool"], args=dict(d.get("args") or {}), raw=d.get("raw") or "")


@dataclass
class Step:
    """One round: the agent's thought and action, and what the environment answered."""

    action: Action
    thought: str = ""
    observation: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "thought": self.thought,
            "action": self.action.to_dict(),
            "observation": self.observation,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Step":
        return cls(
            action=Action.from_dict(d["action"]),
            thought=d.get("thought") or "",
            observation=d.get("observation") or "",
            meta=dict(d.get("meta") or {}),
        )


@dataclass
class Trajectory:
    """A whole agent run on one task, in canonical form."""

    id: str
    source_format: str
    steps: list[Step] = field(default_factory=list)
    instance_id: str | None = None
    repo: str | None = None
    base_commit: str | None = None
    problem_statement: str = ""
    patch: str | None = None
    outcome: Outcome = "unknown"
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_TAG,
            "id": self.id,
            "source_format": self.source_format,
            "instance_id": self.instance_id,
            "repo": self.repo,
            "base_commit": self.base_commit,
            "problem_statement": self.problem_statement,
            "steps": [s.to_dict() for s in self.steps],
            "patch": self.patch,
            "outcome": self.outcome,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Trajectory":
        from swe_srl.errors import SweSrlError

        try:
            return cls(
                id=str(d["id"]),
                source_format=d.get("source_format") or "unknown",
                steps=[Step.from_dict(s) for s in d.get("steps") or []],
                instance_id=d.get("instance_id"),
                repo=d.get("repo"),
                base_commit=d.get("base_commit"),
                problem_statement=d.get("problem_statement") or "",
                patch=d.get("patch"),
                outcome=d.get("outcome") or "unknown",
                meta=dict(d.get("meta") or {}),
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise SweSrlError(f"not a canonical trajectory ({type(e).__name__}: {e})") from None

    @property
    def submitted(self) -> bool:
        return bool(self.patch and self.patch.strip()) or any(s.action.tool == "submit" for s in self.steps)


def json_schema() -> dict[str, Any]:
    """JSON schema of the canonical trajectory record (derived with pydantic)."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(Trajectory).json_schema()
    schema["$id"] = FORMAT_TAG
    schema["title"] = "swe-srl canonical trajectory"
    schema.setdefault("properties", {})["format"] = {"const": FORMAT_TAG, "type": "string"}
    return schema


def asdict_safe(obj: Any) -> dict[str, Any]:
    return asdict(obj)
