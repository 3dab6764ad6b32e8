"""Agent logs -> canonical ``trajectories.jsonl`` + ``report.json`` (``swe-srl convert``).

Design choices:

* Inputs are files or directories; directories are walked recursively in a
  fixed order (each directory's files sorted by name, then its sub-directories
  sorted), hidden files and directories skipped. Each real directory is
  visited once (by device and inode), so symbolic-link loops end. The same inputs therefore
  always give the same output, byte for byte (ids and order are deterministic),
  so re-running a conversion simply rewrites it.
* Each file is auto-detected on its own (or parsed with the ``--format``
  given). Parsers stream: trajectories are written as they are produced, so
  memory stays bounded by the largest single file, not by the input size. The
  one exception is chat-messages LLM-call logs (one model call per file, each
  repeating the growing conversation): the trajectories rebuilt from them in
  one directory are held until the directory ends (at most ``MAX_HELD``) and
  deduplicated with ``chat_messages.dedupe_prefix_trajectories``.
* Bad input never stops a conversion. Every input, file or record skipped
  arrives as a :class:`ParseError` item (the listing's and the parsers' one
  error vocabulary, see :mod:`swe_srl.trajectories.parsers`); each is listed
  in the report as ``file[:line]: reason`` and counted. Records whose invalid
  UTF-8 was replaced are counted per file (``invalid_utf8``). A parser that
  breaks its contract (raises instead of yielding) is reported the same way,
  as ``parser error (...)``.
* Outputs are written to temporary files and renamed into place at the end.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import orjson

from swe_srl import __version__
from swe_srl.errors import ParseError, SweSrlError
from swe_srl.formats import CONVERT_REPORT, TRAJECTORY
from swe_srl.io import atomic_open, dumps, write_json
from swe_srl.trajectories.models import FORMAT_TAG, Trajectory
from swe_srl.trajectories.parsers import agent_log_parser, open_log
from swe_srl.trajectories.parsers._common import INVALID_UTF8

REPORT_FORMAT_TAG = CONVERT_REPORT.tag
TRAJECTORIES_FILE = TRAJECTORY.file
REPORT_FILE = CONVERT_REPORT.file

# The report lists at most this many skip reasons (all are counted).
MAX_SKIP_REASONS = 10_000
# LLM-call-log trajectories held for prefix deduplication (bounds memory).
MAX_HELD = 1_000


def iter_input_files(inputs: Iterable[str | os.PathLike]) -> Iterator[tuple[Path, int] | ParseError]:
    """Every file to convert, as ``(path, size)``, in a deterministic order.

    Directories are walked recursively: files of a directory (sorted by name)
    come before its sub-directories (sorted). Names starting with ``.`` are
    skipped. A missing input yields a :class:`ParseError`.
    """
    seen: set[tuple[int, int]] = set()
    for raw in inputs:
        root = Path(raw)
        if root.is_dir():
            yield from _walk(root, seen)
        elif root.is_file():
            yield root, root.stat().st_size
        elif root.exists():
            yield ParseError("not a regular file", str(root))
        else:
            yield ParseError("no such file or directory", str(root))


def _walk(directory: Path, seen: set[tuple[int, int]]) -> Iterator[tuple[Path, int] | ParseError]:
    try:
        st = directory.stat()
    except OSError as e:
        yield ParseError(f"cannot stat ({e.strerror or e})", str(directory))
        return
    key = (st.st_dev, st.st_ino)
    if key in seen:  # reached again through a symbolic link (a loop, or two links to one folder)
        return
    seen.add(key)
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as e:
        yield ParseError(f"cannot list directory ({e.strerror or e})", str(directory))
        return
    subdirs = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir():
                subdirs.append(entry)
            elif entry.is_file():
                yield directory / entry.name, entry.stat().st_size
        except OSError as e:
            yield ParseError(f"cannot stat ({e.strerror or e})", str(directory / entry.name))
    for entry in subdirs:
        yield from _walk(directory / entry.name, seen)


@dataclass
class FormatCounts:
    files: int = 0
    trajectories: int = 0
    steps: int = 0


@dataclass
class ConvertStats:
    """Running counts of a conversion; :meth:`report` turns them into report.json."""

    files_total: int = 0
    files_parsed: int = 0
    files_skipped: int = 0
    bytes_total: int = 0
    trajectories: int = 0
    steps: int = 0
    records_skipped: int = 0
    empty_trajectories: int = 0
    renamed_duplicate_ids: int = 0
    prefix_duplicates_dropped: int = 0
    formats: dict[str, FormatCounts] = field(default_factory=dict)
    actions_by_tool: Counter = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    skipped_total: int = 0
    invalid_utf8: dict[str, int] = field(default_factory=dict)
    """Records per file whose invalid UTF-8 was replaced."""

    def skip(self, reason: str) -> None:
        self.skipped_total += 1
        if len(self.skipped) < MAX_SKIP_REASONS:
            self.skipped.append(reason)

    def report(self, command: dict[str, Any]) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT_TAG,
            "trajectory_format": FORMAT_TAG,
            "version": __version__,
            "command": command,
            "files": {"total": self.files_total, "parsed": self.files_parsed, "skipped": self.files_skipped},
            "bytes": self.bytes_total,
            "trajectories": self.trajectories,
            "steps": self.steps,
            "records_skipped": self.records_skipped,
            "empty_trajectories": self.empty_trajectories,
            "renamed_duplicate_ids": self.renamed_duplicate_ids,
            "prefix_duplicates_dropped": self.prefix_duplicates_dropped,
            "formats": {
                name: {"files": c.files, "trajectories": c.trajectories, "steps": c.steps}
                for name, c in sorted(self.formats.items())
            },
            "actions_by_tool": dict(sorted(self.actions_by_tool.items(), key=lambda kv: (-kv[1], kv[0]))),
            "skipped": self.skipped,
            "skipped_total": self.skipped_total,
            "skipped_listed": len(self.skipped),
            "invalid_utf8": {"files": len(self.invalid_utf8), "records": sum(self.invalid_utf8.values()),
                             "by_file": dict(list(self.invalid_utf8.items())[:MAX_SKIP_REASONS])},
        }


def _reason(err: ParseError, path: Path) -> str:
    where = err.where or str(path)
    return f"{where}: {err.reason}"


def _encode(record: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return (dumps(record) + "\n").encode()


def _dedupe_prefix(trajs: list[Trajectory]) -> list[Trajectory]:
    """``chat_messages.dedupe_prefix_trajectories`` (that parser is imported only when it is used)."""
    if len(trajs) < 2:
        return trajs
    from swe_srl.trajectories.parsers.chat_messages import dedupe_prefix_trajectories

    return list(dedupe_prefix_trajectories(trajs))


class _Writer:
    """Writes trajectories to the output stream and counts them."""

    def __init__(self, fh: Any, stats: ConvertStats):
        self.fh = fh
        self.stats = stats
        self.seen_ids: set[str] = set()

    def write(self, traj: Trajectory, fmt: str, path: Path) -> bool:
        stats = self.stats
        if not traj.steps:
            stats.empty_trajectories += 1
            stats.skip(f"{path}: trajectory {traj.id!r} has no steps")
            return False
        if traj.id in self.seen_ids:
            # The same run given twice (copies of a file): keep ids unique.
            n = 2
            while f"{traj.id}#{n}" in self.seen_ids:
                n += 1
            traj.id = f"{traj.id}#{n}"
            stats.renamed_duplicate_ids += 1
        self.seen_ids.add(traj.id)
        traj.meta.setdefault("source_file", str(path))
        if traj.source_format in ("", "unknown"):
            traj.source_format = fmt
        self.fh.write(_encode(traj.to_dict()))
        n_steps = len(traj.steps)
        stats.trajectories += 1
        stats.steps += n_steps
        counts = stats.formats.setdefault(fmt, FormatCounts())
        counts.trajectories += 1
        counts.steps += n_steps
        tools = stats.actions_by_tool
        for step in traj.steps:
            tools[step.action.tool] += 1
        return True


def _is_llm_call_log(traj: Trajectory) -> bool:
    return traj.source_format == "chat-messages" and traj.meta.get("kind") == "llm-call-log"


def convert_file(path: Path, fmt: str, writer: _Writer, held: list[tuple[Trajectory, Path]]) -> tuple[str | None, int]:
    """Convert one file; returns ``(format, trajectories written or held)``.

    Trajectories rebuilt from LLM-call logs are appended to ``held`` (the
    caller deduplicates them per directory) instead of being written.
    """
    stats = writer.stats
    bad_utf8 = INVALID_UTF8[0]
    name, stream = open_log(path, fmt)
    written = 0
    try:
        for item in stream:
            if isinstance(item, ParseError):
                if name is not None:
                    stats.records_skipped += 1
                stats.skip(_reason(item, path))
            elif not isinstance(item, Trajectory):
                stats.skip(f"{path}: parser error (yielded {type(item).__name__})")
            elif _is_llm_call_log(item) and item.steps:
                held.append((item, path))
                written += 1
            else:
                written += writer.write(item, name or fmt, path)
    except ParseError as e:  # a contract break (parse() yields these), reported all the same
        stats.skip(_reason(e, path))
    except OSError as e:
        stats.skip(f"{path}: cannot read ({e.strerror or e})")
    except RecursionError:
        stats.skip(f"{path}: nesting too deep")
    except Exception as e:  # a parser bug must not stop the whole conversion
        stats.skip(f"{path}: parser error ({type(e).__name__}: {_one_line(str(e))})")
    if INVALID_UTF8[0] > bad_utf8:
        stats.invalid_utf8[str(path)] = INVALID_UTF8[0] - bad_utf8
    return name, written


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _flush_held(held: list[tuple[Trajectory, Path]], writer: _Writer) -> None:
    if not held:
        return
    trajs = [t for t, _ in held]
    kept = _dedupe_prefix(trajs)
    kept_ids = {id(t) for t in kept}
    writer.stats.prefix_duplicates_dropped += len(trajs) - len(kept)
    # Keep the held order (file order) for determinism.
    for t, path in held:
        if id(t) in kept_ids:
            writer.write(t, "chat-messages", path)
    held.clear()


def convert(
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    fmt: str = "auto",
    command: dict[str, Any] | None = None,
    on_file: Callable[[Path, int, str | None, int], None] | None = None,
    files: list[tuple[Path, int] | ParseError] | None = None,
) -> dict[str, Any]:
    """Convert ``inputs`` into ``out_dir/trajectories.jsonl`` and ``out_dir/report.json``.

    ``on_file(path, size, format, trajectories)`` is called after each file
    (progress bars). ``files`` may pass a precomputed :func:`iter_input_files`
    listing. Returns the report (also written to ``report.json``).
    """
    if fmt != "auto":
        agent_log_parser(fmt)  # an unknown name fails early, listing the valid ones
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SweSrlError(f"{out_dir}: exists and is not a directory")
    stats = ConvertStats()
    if command is None:
        command = {"inputs": [str(p) for p in inputs], "out": str(out_dir), "format": fmt}
    listing = files if files is not None else iter_input_files(inputs)
    # Never read our own outputs back (an output directory inside an input one).
    out_resolved = out_dir.resolve()
    held: list[tuple[Trajectory, Path]] = []
    held_dir: Path | None = None
    with atomic_open(out_dir / TRAJECTORIES_FILE, "wb") as fh:
        writer = _Writer(fh, stats)
        for entry in listing:
            if isinstance(entry, ParseError):
                stats.files_total += 1
                stats.files_skipped += 1
                stats.skip(_reason(entry, Path(entry.where or "?")))
                continue
            path, size = entry
            if out_resolved in path.resolve().parents:
                continue
            if held and path.parent != held_dir:
                _flush_held(held, writer)
            stats.files_total += 1
            stats.bytes_total += size
            reasons_before = stats.skipped_total
            name, n = convert_file(path, fmt, writer, held)
            if held:
                held_dir = path.parent
                if len(held) >= MAX_HELD:
                    _flush_held(held, writer)
            if n:
                stats.files_parsed += 1
                stats.formats.setdefault(name or fmt, FormatCounts()).files += 1
            else:
                stats.files_skipped += 1
                if stats.skipped_total == reasons_before:
                    stats.skip(f"{path}: no trajectory found")
            if on_file is not None:
                on_file(path, size, name, n)
        _flush_held(held, writer)
    report = stats.report(command)
    write_json(out_dir / REPORT_FILE, report)
    return report


def command_record(argv: Sequence[str] | None = None, **options: Any) -> dict[str, Any]:
    """The command's arguments as recorded in the report (STYLE.md item 7)."""
    return {"argv": list(sys.argv if argv is None else argv), **options}
