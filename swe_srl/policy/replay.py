"""``replay:TRAJECTORIES``: replays the recorded actions of an expert trajectory.

The file is canonical JSONL (``swe-srl convert`` / ``swe-srl run`` output) or
any agent log ``swe-srl convert`` reads. The policy is task-aware: the agent
calls ``for_task(task)`` once per episode (:func:`swe_srl.policy.base.bind`)
and gets a :class:`ReplayEpisode` holding that instance's trajectory and a
cursor. Each call then answers with the next recorded step, rendered in the
response format (``<think>THOUGHT</think>`` + the canonical function call) and
carrying the exact :class:`Action` (:attr:`Completion.action`), so the agent
executes what was recorded even where the rendering would not round-trip.

A recorded format-error turn (``Step.meta["format_error"]``: mini-swe-agent's
"EXACTLY ONE action ... found 2 actions", a chat log's several calls in one
turn) is answered as a format error (:attr:`Completion.format_error`): the
agent records it and executes nothing, as the recorded agent did, so a command
the model only wrote in its thoughts never reaches the sandbox. (SWE-agent's
format-error retries and OpenHands' malformed calls never become steps: the
parsers keep only the turns those agents executed.) When the recording ends
without a ``submit``, the episode submits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from swe_srl.errors import ConfigError, ParseError, SweSrlError
from swe_srl.policy.base import BasePolicy, Completion, SamplingConfig
from swe_srl.trajectories.models import Action, Step, Trajectory
from swe_srl.trajectories.parsers import parse_file


def render_step(step: Step) -> str:
    """A recorded step as a policy response."""
    return f"<think>{step.thought.strip()}</think>\n{step.action.render()}"


def recorded_format_error(step: Step) -> str | None:
    """Why the recorded agent rejected this turn (None when it executed it)."""
    if not step.meta.get("format_error"):
        return None
    found = step.meta.get("actions_found")
    detail = f"{found} actions in one response" if isinstance(found, int) else "a malformed response"
    first = next((line.strip() for line in step.observation.splitlines() if line.strip()), "")
    return f"recorded format error: {detail}" + (f" ({first[:200]})" if first else "")


class ReplayEpisode(BasePolicy):
    """One trajectory, replayed step by step (``step_index`` is the next step)."""

    name = "replay"

    def __init__(self, trajectory: Trajectory, sampling: SamplingConfig | None = None):
        super().__init__(sampling)
        self.trajectory = trajectory
        self.step_index = 0
        self.exhausted = False

    def recorded(self, index: int) -> Step | None:
        """The recorded step ``index`` (None past the end)."""
        steps = self.trajectory.steps
        return steps[index] if 0 <= index < len(steps) else None

    def generate(self, messages: list[dict[str, Any]], n: int = 1, **overrides: Any) -> list[Completion]:
        with self._lock:
            index = self.step_index
            step = self.recorded(index)
            self.step_index += 1
        if step is None:
            self.exhausted = True
            step = Step(Action("submit", {}, ""), thought="The recording ends here; submitting.")
            meta = {"replay_step": index, "replay_exhausted": True}
        else:
            meta = {"replay_step": index}
        text = render_step(step)
        error = recorded_format_error(step)
        if error is not None:
            return [Completion(text=text, finish_reason="stop", format_error=error, meta=dict(meta)) for _ in range(n)]
        return [Completion(text=text, finish_reason="stop", action=step.action, meta=dict(meta)) for _ in range(n)]

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "trajectory_id": self.trajectory.id, "steps": len(self.trajectory.steps)}


class ReplayPolicy(BasePolicy):
    """All trajectories of a file, indexed by instance id."""

    name = "replay"

    def __init__(self, path: str | Path, *, sampling: SamplingConfig | None = None, fmt: str = "auto"):
        super().__init__(sampling)
        self.path = Path(path)
        if not self.path.is_file():
            raise SweSrlError(f"{self.path}: no such trajectories file")
        self.by_instance: dict[str, Trajectory] = {}
        self.skipped: list[str] = []
        for item in parse_file(self.path, fmt):
            if isinstance(item, ParseError):
                self.skipped.append(str(item))
                continue
            key = item.instance_id or item.id
            # The first recording of an instance wins (a file may hold several attempts).
            self.by_instance.setdefault(key, item)
        if not self.by_instance:
            reason = f" ({self.skipped[0]})" if self.skipped else ""
            raise SweSrlError(f"{self.path}: no trajectory to replay{reason}")

    @classmethod
    def from_spec(cls, target: str, **opts: Any) -> "ReplayPolicy":
        sampling, rest = SamplingConfig.from_options(opts)
        unknown = set(rest) - {"fmt"}
        if unknown:
            raise ConfigError(f"replay policy: unknown option(s) {', '.join(sorted(unknown))}; valid: fmt")
        return cls(target, sampling=sampling, **rest)

    def trajectory_for(self, instance_id: str) -> Trajectory:
        try:
            return self.by_instance[instance_id]
        except KeyError:
            raise SweSrlError(f"{self.path}: no recorded trajectory for instance {instance_id!r}") from None

    def for_task(self, task: dict[str, Any]) -> ReplayEpisode:
        return ReplayEpisode(self.trajectory_for(str(task.get("instance_id"))), self.sampling)

    def generate(self, messages: list[dict[str, Any]], n: int = 1, **overrides: Any) -> list[Completion]:
        raise SweSrlError("the replay policy answers per task: call for_task(task) (swe_srl.policy.bind) first")

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "path": str(self.path), "trajectories": len(self.by_instance)}
