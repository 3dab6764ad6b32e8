"""The parsers' one error vocabulary: ParseError is raised inside a parser and
yielded by ``parse()``; Python's own errors on an odd record shape become one too."""

from __future__ import annotations

import ast
from pathlib import Path

from swe_srl.errors import ParseError
from swe_srl.trajectories.parsers import PARSERS
from swe_srl.trajectories.parsers._common import caught

PARSERS_DIR = Path(__file__).resolve().parents[2] / "swe_srl" / "trajectories" / "parsers"


def test_caught_fills_the_place_and_keeps_one_that_is_named():
    assert caught(lambda: 1, "f") == 1
    err = caught(lambda: (_ for _ in ()).throw(ParseError("bad field")), "f:3")
    assert isinstance(err, ParseError) and str(err) == "f:3: bad field"
    err = caught(lambda: (_ for _ in ()).throw(ParseError("empty file", "g")), "f:3")
    assert str(err) == "g: empty file"


def test_caught_reports_an_odd_shape_on_one_line():
    err = caught(lambda: {}["missing\nkey"], "f:7")
    assert isinstance(err, ParseError) and err.where == "f:7"
    assert err.reason.startswith("unexpected structure (KeyError") and "\n" not in str(err)


def test_no_parser_defines_its_own_error_type():
    """One vocabulary: no parser module declares an exception class of its own."""
    modules = {spec.partition(":")[0].rpartition(".")[2] for spec in PARSERS.values()} | {"_common", "aci"}
    for name in sorted(modules):
        tree = ast.parse((PARSERS_DIR / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                assert not bases & {"Exception", "ValueError", "ParseError", "SweSrlError"}, (name, node.name)
