"""The seams of the project, as small Protocols.

Each has real implementations and a conformance test run against all of them
(``tests/conformance``). Implementations need not inherit from these classes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol, runtime_checkable

if TYPE_CHECKING:
    from swe_srl.errors import ParseError
    from swe_srl.trajectories.models import Trajectory


@runtime_checkable
class LogParser(Protocol):
    """Turns one agent-log file into canonical trajectories."""

    name: str

    def detect(self, path: Path, head: bytes) -> float:
        """Confidence in [0, 1] that ``path`` (first bytes ``head``) is this format."""
        ...

    def parse(self, path: Path) -> Iterator["Trajectory | ParseError"]:
        """Yield trajectories, and a ParseError for each record skipped."""
        ...


@runtime_checkable
class Policy(Protocol):
    """A model that answers a chat with ``n`` sampled responses."""

    def propose(self, messages: list[dict[str, Any]], n: int = 1) -> list[str]:
        ...


@runtime_checkable
class Sandbox(Protocol):
    """An isolated repository workspace in which actions run.

    ``run`` returns a :class:`swe_srl.sandbox.CommandResult` (output, exit
    code, timed_out, truncated); failures are reported in it, not raised.
    """

    def run(self, command: str, timeout: float | None = None) -> Any:
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
