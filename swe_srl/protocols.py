"""The seams of the project, as small Protocols, and the records that cross them.

Each seam states everything its callers use, so no caller probes an object
with ``getattr``; each has real implementations and a conformance test run
against all of them (``tests/policy/test_backends.py``,
``tests/sandbox/test_conformance.py``, the parser tests). Implementations need
not inherit from these classes.

* :class:`LogParser` (defined beside the parsers, re-exported here):
  ``detect(path, head)``, ``parse(path)``;
* :class:`Policy`: ``generate(messages, n) -> list[Completion]``, token
  counting, the context window and the completion budget, ``for_task``;
* :class:`Sandbox`: ``run``/``execute`` -> :class:`CommandOutput`, files,
  ``diff``, ``reset``, ``close``, and its ``config`` (the default command timeout);
* :class:`RewardFn`: a TRL-compatible reward callable.

Layering: this module sits just above :mod:`swe_srl.trajectories` (it names
:class:`~swe_srl.trajectories.models.Action`) and below every backend, so
policies, sandboxes and the agent all import it and it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from swe_srl.trajectories.models import Action
from swe_srl.trajectories.parsers import LogParser

Messages = list[dict[str, Any]]

__all__ = ["Completion", "CommandOutput", "LogParser", "Messages", "Policy", "RewardFn", "Sandbox", "SandboxSettings"]


@dataclass
class Completion:
    """One sampled response, and what the policy itself knows about it.

    Most policies only fill ``text`` and the token counts; the agent parses the
    text. A policy that knows what its response means (replay of a recorded
    run) says so with one of two typed fields, which the agent obeys:

    * ``action``: execute exactly this action (the recorded one, even where
      its rendering in ``text`` would not parse back to it);
    * ``format_error``: this response is malformed (a recorded format-error
      turn): the agent records a format error with this reason and executes
      nothing, as the recorded agent did.
    """

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    action: Action | None = None
    format_error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action is not None and self.format_error is not None:
            raise ValueError("a completion carries an action or a format error, not both")


@runtime_checkable
class Policy(Protocol):
    """A model that answers a chat with ``n`` sampled responses.

    :class:`swe_srl.policy.base.BasePolicy` implements everything but
    ``generate`` with neutral answers (no token counter, no known window,
    ``for_task`` returning the policy itself).
    """

    def generate(self, messages: Messages, n: int = 1, **overrides: Any) -> list[Completion]:
        """``n`` completions; ``overrides`` replace sampling settings for this call."""
        ...

    def count_tokens(self, messages: Messages) -> int | None:
        """Prompt length in tokens (chat template and generation prompt included), or None
        when the backend cannot tell (then the agent does not fit prompts to a budget)."""
        ...

    @property
    def max_context(self) -> int | None:
        """The model's context window in tokens, when known."""
        ...

    @property
    def max_new_tokens(self) -> int:
        """Tokens a completion may take (with ``max_context``: what is left for the prompt)."""
        ...

    def for_task(self, task: dict[str, Any]) -> "Policy":
        """The policy for one episode on ``task`` (replay picks the task's recording; others return self)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Backend and settings, recorded in run outputs."""
        ...

    def close(self) -> None:
        """Release the model or connections. Idempotent."""
        ...


@runtime_checkable
class CommandOutput(Protocol):
    """What one command or action produced (:class:`swe_srl.sandbox.CommandResult`)."""

    output: str
    exit_code: int | None
    timed_out: bool
    truncated: bool
    duration_s: float


class SandboxSettings(Protocol):
    """The part of a sandbox's configuration its callers read."""

    command_timeout: float


@runtime_checkable
class Sandbox(Protocol):
    """An isolated repository workspace in which actions run.

    ``run`` and ``execute`` report the action's failures in the returned
    :class:`CommandOutput` (exit code, error text); they raise
    :class:`swe_srl.sandbox.SandboxError` only when the workspace itself is gone.
    """

    config: SandboxSettings

    def run(self, command: str, timeout: float | None = None) -> CommandOutput:
        """A shell command in the persistent session (``timeout`` in seconds; None: the config's)."""
        ...

    def execute(self, action: Action) -> CommandOutput:
        """A canonical action: bash, str_replace_editor or submit (others: exit code 127)."""
        ...

    def read_file(self, path: str) -> bytes:
        ...

    def write_file(self, path: str, data: bytes | str) -> None:
        ...

    def diff(self) -> str:
        """The working tree against the base commit, new files included."""
        ...

    def reset(self) -> None:
        """Back to the base state."""
        ...

    def close(self) -> None:
        ...


class RewardFn(Protocol):
    """A TRL-compatible reward: ``f(completions, **columns) -> list[float]``."""

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float]:
        ...
