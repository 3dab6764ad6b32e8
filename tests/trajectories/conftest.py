"""Helpers the parser tests share, as fixtures (they work under ``--import-mode=importlib``).

Each fixture returns a plain function; the tests call it with their own parser
name and sample folder.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import strategies as st

from swe_srl.errors import ParseError, UnknownFormatError
from swe_srl.trajectories.models import Trajectory
from swe_srl.trajectories.parsers import detect_format, agent_log_parser, read_head

# -- parsing ----------------------------------------------------------------------------------


def _parse_all(fmt: str, path: Path) -> list:
    """Everything ``fmt``'s parser yields for ``path``: only trajectories and ParseErrors."""
    out = list(agent_log_parser(fmt).parse(path))
    assert all(isinstance(x, (Trajectory, ParseError)) for x in out)
    return out


def _parse_clean(fmt: str, path: Path) -> list[Trajectory]:
    """The trajectories of ``path``, which must give no ParseError."""
    out = _parse_all(fmt, path)
    errors = [x for x in out if isinstance(x, ParseError)]
    assert not errors, errors
    return out


def _only_trajectory(fmt: str, path: Path) -> Trajectory:
    """The single trajectory ``fmt``'s parser yields for ``path``."""
    out = list(agent_log_parser(fmt).parse(path))
    assert len(out) == 1 and isinstance(out[0], Trajectory), out
    return out[0]


def _only_parse_errors(fmt: str, path: Path) -> list[ParseError]:
    """What ``fmt``'s parser yields for ``path``: at least one item, all ParseErrors."""
    out = list(agent_log_parser(fmt).parse(path))
    assert out and all(isinstance(o, ParseError) for o in out), out
    return out


def _write_jsonl(path: Path, records: list) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


@pytest.fixture(scope="session")
def parse_all() -> Callable[[str, Path], list]:
    return _parse_all


@pytest.fixture(scope="session")
def parse_clean() -> Callable[[str, Path], list[Trajectory]]:
    return _parse_clean


@pytest.fixture(scope="session")
def only_trajectory() -> Callable[[str, Path], Trajectory]:
    return _only_trajectory


@pytest.fixture(scope="session")
def only_parse_errors() -> Callable[[str, Path], list[ParseError]]:
    return _only_parse_errors


@pytest.fixture(scope="session")
def write_jsonl() -> Callable[[Path, list], Path]:
    return _write_jsonl


# -- detection --------------------------------------------------------------------------------


def _check_detection(samples_dir: Path, family: str, fmt: str, other_dirs: tuple[str, ...]) -> None:
    """Every file of ``family`` is detected as ``fmt``; ``fmt``'s detector scores
    the files of ``other_dirs`` below 0.2 and detection never picks ``fmt`` for them."""
    for f in sorted((samples_dir / family).iterdir()):
        assert detect_format(f) == fmt, f.name
    parser = agent_log_parser(fmt)
    for d in other_dirs:
        for f in sorted((samples_dir / d).iterdir()):
            assert parser.detect(f, f.read_bytes()[: 64 * 1024]) < 0.2, f"{d}/{f.name}"
            try:
                assert detect_format(f) != fmt, f"{d}/{f.name}"
            except UnknownFormatError:
                pass  # no parser claims it: not ours either


def _check_not_detected(samples_dir: Path, fmt: str, family_dir: str) -> list[Path]:
    """``fmt``'s detector says 0 to every sample outside ``family_dir`` and detection
    never picks ``fmt`` for them; returns the samples checked."""
    parser = agent_log_parser(fmt)
    others = sorted(p for p in samples_dir.rglob("*") if p.is_file() and p.suffix != ".md"
                    and p.parent.name != family_dir)
    for path in others:
        assert parser.detect(path, read_head(path)) == 0.0, path
        try:
            assert detect_format(path) != fmt
        except UnknownFormatError:
            pass  # no parser claims it: not ours either
    return others


@pytest.fixture(scope="session")
def check_detection() -> Callable[[Path, str, str, tuple[str, ...]], None]:
    return _check_detection


@pytest.fixture(scope="session")
def check_not_detected() -> Callable[[Path, str, str], list[Path]]:
    return _check_not_detected


# -- mutation: one node replaced by a random scalar (seeded random.Random) --------------------

_SCALARS = [None, 0, -1, 3.5, True, "", "x", [], {}, [None], {"a": None}]


def _mutate(value: Any, rnd: random.Random) -> Any:
    """Replace one randomly chosen node of a JSON value by a value of another type."""
    if isinstance(value, dict) and value and rnd.random() < 0.85:
        key = rnd.choice(sorted(value))
        return {**value, key: _mutate(value[key], rnd)}
    if isinstance(value, list) and value and rnd.random() < 0.85:
        i = rnd.randrange(len(value))
        return value[:i] + [_mutate(value[i], rnd)] + value[i + 1:]
    return rnd.choice(_SCALARS)


@pytest.fixture(scope="session")
def mutate_json() -> Callable[[Any, random.Random], Any]:
    return _mutate


# -- mutation: a node chosen by hypothesis replaced by a drawn value, the bytes maybe cut -----

_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20),
                    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _paths(node: Any, max_items: int, prefix: tuple = ()) -> Iterator[tuple]:
    """The key paths of a JSON value (the first ``max_items`` items of each list)."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, max_items, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:max_items]):
            yield from _paths(v, max_items, prefix + (i,))


def _replace(node: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    node = json.loads(json.dumps(node))
    cur = node
    for key in path[:-1]:
        cur = cur[key]
    cur[path[-1]] = value
    return node


def _check_drawn_mutation(data: Any, fmt: str, name: str, doc: Any, max_items: int) -> None:
    """Replace a drawn node of ``doc`` by a drawn value, maybe cut the bytes and add
    junk, and parse the result as file ``name`` with ``fmt``'s parser: it yields
    only trajectories (with steps that render) or ParseErrors."""
    path = data.draw(st.sampled_from(list(_paths(doc, max_items))))
    mutated = json.dumps(_replace(doc, path, data.draw(_VALUES))).encode()
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(mutated)))
        mutated = mutated[:cut] + data.draw(st.binary(max_size=3))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_bytes(mutated)
        for out in agent_log_parser(fmt).parse(p):
            assert isinstance(out, (Trajectory, ParseError))
            if isinstance(out, Trajectory):
                assert out.steps
                for s in out.steps:
                    s.action.render()


@pytest.fixture(scope="session")
def check_drawn_mutation() -> Callable[[Any, str, str, Any, int], None]:
    return _check_drawn_mutation
