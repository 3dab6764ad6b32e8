"""Log parsers: one module per agent-log family, found by short name.

Every parser implements :class:`LogParser` (defined here, beside its
implementations, and listed with the other seams in :mod:`swe_srl.protocols`):

* ``detect(path, head) -> float`` scores how sure it is that the file is its
  format, from the path and the first bytes (``head``, up to 64 KiB); 0 means no.
* ``parse(path) -> Iterator[Trajectory | ParseError]`` yields one canonical
  trajectory per run found in the file, or a :class:`ParseError` for each
  thing it had to skip: a record (``where`` is ``file:line`` or ``file[i]``) or
  the whole file (``where`` is ``file``).

Errors, one vocabulary: :class:`~swe_srl.errors.ParseError` is the only type.
Inside a parser, code that meets bad input *raises* it; ``parse()`` catches it
per record (or per file) with :func:`._common.caught` and *yields* it, so a
caller only iterates and counts: ``parse()`` never raises for bad input, and
:func:`open_log` / :func:`parse_file` extend that to a file that cannot be read
or whose format is unknown (:class:`~swe_srl.errors.UnknownFormatError`, a
ParseError). ``swe-srl convert`` skips and counts each one it receives.

Parsers are imported lazily from :data:`PARSERS` (short name -> import path).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Iterator, Protocol, runtime_checkable

from swe_srl.errors import ParseError, UnknownFormatError
from swe_srl.trajectories.models import Trajectory


@runtime_checkable
class LogParser(Protocol):
    """Turns one agent-log file into canonical trajectories."""

    name: str

    def detect(self, path: Path, head: bytes) -> float:
        """Confidence in [0, 1] that ``path`` (first bytes ``head``) is this format."""
        ...

    def parse(self, path: Path) -> Iterator[Trajectory | ParseError]:
        """Yield trajectories, and a ParseError for each record skipped."""
        ...


PARSERS: dict[str, str] = {
    "swe-agent": "swe_srl.trajectories.parsers.swe_agent:SweAgentParser",
    "mini-swe-agent": "swe_srl.trajectories.parsers.mini_swe_agent:MiniSweAgentParser",
    "openhands": "swe_srl.trajectories.parsers.openhands:OpenHandsParser",
    "chat-messages": "swe_srl.trajectories.parsers.chat_messages:ChatMessagesParser",
    "claude-code": "swe_srl.trajectories.parsers.claude_code:ClaudeCodeParser",
    "codex": "swe_srl.trajectories.parsers.codex:CodexParser",
    "canonical": "swe_srl.trajectories.parsers.canonical:CanonicalParser",
}

HEAD_BYTES = 64 * 1024
_cache: dict[str, LogParser] = {}


def agent_log_parser(name: str) -> LogParser:
    """The parser registered under ``name``; the error lists the valid names."""
    if name not in PARSERS:
        raise UnknownFormatError(f"unknown format {name!r}; valid formats: auto, {', '.join(PARSERS)}")
    if name not in _cache:
        module, _, attr = PARSERS[name].partition(":")
        _cache[name] = getattr(importlib.import_module(module), attr)()
    return _cache[name]


def read_head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(HEAD_BYTES)


def detect_format(path: str | Path, head: bytes | None = None) -> str:
    """The best-scoring parser's name, or :class:`UnknownFormatError`."""
    path = Path(path)
    if head is None:
        head = read_head(path)
    best, best_score = None, 0.0
    for name in PARSERS:
        try:
            score = float(agent_log_parser(name).detect(path, head))
        except Exception:  # a detector must never break detection of the others
            score = 0.0
        if score > best_score:
            best, best_score = name, score
    if best is None:
        stripped = head.lstrip()
        if not stripped:
            raise UnknownFormatError("empty file", str(path))
        if stripped[:1] not in (b"{", b"["):
            raise UnknownFormatError("not JSON or JSONL", str(path))
        raise UnknownFormatError("no parser recognises this format", str(path))
    return best


def open_log(path: str | Path, fmt: str = "auto") -> tuple[str | None, Iterator[Trajectory | ParseError]]:
    """The format of ``path`` (the named one, or the detected one) and its parser's
    stream; ``(None, [the ParseError])`` when the format is unknown or the file
    cannot be read."""
    path = Path(path)
    try:
        name = detect_format(path) if fmt == "auto" else fmt
        return name, agent_log_parser(name).parse(path)
    except ParseError as e:
        return None, iter([e])
    except OSError as e:
        return None, iter([ParseError(f"cannot read ({e.strerror or e})", str(path))])


def parse_file(path: str | Path, fmt: str = "auto") -> Iterator[Trajectory | ParseError]:
    """Parse one file with the named parser (or the detected one); a file that
    cannot be read, or is nested too deep, ends the stream with its ParseError."""
    _name, stream = open_log(path, fmt)
    try:
        yield from stream
    except OSError as e:
        yield ParseError(f"cannot read ({e.strerror or e})", str(path))
    except RecursionError:
        yield ParseError("nesting too deep", str(path))
