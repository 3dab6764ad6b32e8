"""Property-based robustness: mutated agent logs fed to every parser.

The shared samples are mutated at the byte level (truncation, flipped,
deleted and inserted bytes, invalid UTF-8) and at the JSON level (a value
anywhere in the document replaced by a value of another type, or a key
removed), then given to every registered parser, whatever its format. A
parser may only yield clean trajectories or :class:`ParseError`; anything it
raises is a bug. A clean trajectory serialises and renders.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swe_srl.errors import ParseError
from swe_srl.io import dumps
from swe_srl.trajectories.models import Trajectory
from swe_srl.trajectories.parsers import HEAD_BYTES, PARSERS, agent_log_parser, parse_file

MAX_SAMPLE_BYTES = 130_000  # keep each example fast: the small samples of every format
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def small_samples(samples_dir) -> list[Path]:
    files = sorted(p for p in samples_dir.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".traj")
                   and p.stat().st_size <= MAX_SAMPLE_BYTES)
    assert len({p.parent.name for p in files}) == 6, "a small sample of every format"
    return files


@pytest.fixture(scope="module")
def parser_names() -> list[str]:
    names = []
    for name in PARSERS:
        try:
            agent_log_parser(name)
        except ImportError:
            continue  # a parser that has not landed yet
        names.append(name)
    return names


def _check_clean(t: Trajectory) -> None:
    assert isinstance(t.id, str) and t.id
    assert isinstance(t.problem_statement, str)
    assert t.patch is None or isinstance(t.patch, str)
    assert t.outcome in ("resolved", "unresolved", "unknown")
    for s in t.steps:
        assert isinstance(s.thought, str) and isinstance(s.observation, str) and isinstance(s.meta, dict)
        assert isinstance(s.action.tool, str) and isinstance(s.action.args, dict) and isinstance(s.action.raw, str)
        assert s.action.render().startswith(f"<function={s.action.tool}>")
    json.loads(dumps(t.to_dict()))


def _feed_every_parser(path: Path, names: list[str]) -> None:
    head = path.read_bytes()[:HEAD_BYTES]
    for name in names:
        parser = agent_log_parser(name)
        score = parser.detect(path, head)
        assert 0.0 <= float(score) <= 1.0, (name, score)
        for item in parser.parse(path):
            assert isinstance(item, (Trajectory, ParseError)), (name, type(item))
            if isinstance(item, Trajectory):
                _check_clean(item)
            else:
                assert str(item) and "\n" not in item.reason.strip(), (name, item.reason)
    for item in parse_file(path):
        assert isinstance(item, (Trajectory, ParseError))


def _write_mutant(original: Path, data: bytes) -> Path:
    d = Path(tempfile.mkdtemp(prefix="fuzz-"))
    path = d / original.name  # the same name: some detectors look at it
    path.write_bytes(data)
    return path


def _cleanup(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.parent.rmdir()


@st.composite
def byte_mutation(draw, data: bytes) -> bytes:
    n = len(data)
    op = draw(st.sampled_from(["truncate", "flip", "delete", "insert", "invalid_utf8", "duplicate"]))
    pos = draw(st.integers(0, max(0, n - 1)))
    if op == "truncate":
        return data[:pos]
    if op == "flip":
        return data[:pos] + bytes([draw(st.integers(0, 255))]) + data[pos + 1:]
    if op == "delete":
        return data[:pos] + data[pos + draw(st.integers(1, 64)):]
    if op == "insert":
        return data[:pos] + draw(st.binary(min_size=1, max_size=16)) + data[pos:]
    if op == "invalid_utf8":
        return data[:pos] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80", b"\x00"])) + data[pos:]
    end = min(n, pos + draw(st.integers(1, 200)))
    return data[:end] + data[pos:end] + data[end:]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple = (), out: list | None = None, limit: int = 3000) -> list[tuple]:
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if isinstance(value, dict):
        for k, v in value.items():
            out.append(prefix + (k,))
            _paths(v, prefix + (k,), out, limit)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.append(prefix + (i,))
            _paths(v, prefix + (i,), out, limit)
    return out


def _set(doc: Any, path: tuple, new: Any, delete: bool) -> None:
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new


def _load_doc(data: bytes, path: Path) -> tuple[Any, bool]:
    """(document, is_jsonl)."""
    try:
        return json.loads(data), False
    except ValueError:
        return [json.loads(line) for line in data.splitlines() if line.strip()], True


@st.composite
def value_mutation(draw, data: bytes, path: Path) -> bytes:
    doc, jsonl = _load_doc(data, path)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        target = draw(st.sampled_from(paths))
        _set(doc, target, draw(JSON_VALUES), delete=draw(st.booleans()) and len(target) > 0)
    if jsonl:
        return b"".join(json.dumps(rec).encode() + b"\n" for rec in doc)
    return json.dumps(doc).encode()


@FUZZ
@given(st.data())
def test_byte_mutations_give_parse_errors_or_clean_trajectories(small_samples, parser_names, data):
    original = data.draw(st.sampled_from(small_samples), label="sample")
    mutated = data.draw(byte_mutation(original.read_bytes()), label="mutation")
    path = _write_mutant(original, mutated)
    try:
        _feed_every_parser(path, parser_names)
    finally:
        _cleanup(path)


@FUZZ
@given(st.data())
def test_value_mutations_give_parse_errors_or_clean_trajectories(small_samples, parser_names, data):
    original = data.draw(st.sampled_from(small_samples), label="sample")
    mutated = data.draw(value_mutation(original.read_bytes(), original), label="mutation")
    path = _write_mutant(original, mutated)
    try:
        _feed_every_parser(path, parser_names)
    finally:
        _cleanup(path)


def test_unmutated_samples_pass_the_same_checks(small_samples, parser_names):
    """The checks themselves accept every real sample (so the fuzz tests test the mutation)."""
    assert len(parser_names) == len(PARSERS), "every registered parser is importable"
    for path in small_samples:
        _feed_every_parser(path, parser_names)
