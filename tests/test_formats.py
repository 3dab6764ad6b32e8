"""Output formats are named in one module (swe_srl/formats.py): every format tag
the code writes is one of its tags, and tags older versions wrote stay readable."""

from __future__ import annotations

import re
from pathlib import Path

from swe_srl import formats
from swe_srl.formats import ALL, EVAL_RUN, TASK_VALIDATION, by_tag

ROOT = Path(__file__).resolve().parents[1]
TAG = re.compile(r"""["'](swe-srl[./][a-z-]+/v?\d+)["']""")


def test_every_tag_in_the_code_is_named_in_formats():
    known = {t for f in ALL for t in f.tags}
    stray = []
    for path in sorted((ROOT / "swe_srl").rglob("*.py")):
        if path.name == "formats.py":
            continue
        for m in TAG.finditer(path.read_text(encoding="utf-8")):
            if m.group(1) not in known:
                stray.append(f"{path.relative_to(ROOT)}: {m.group(1)}")
    assert not stray, "format tags not named in swe_srl/formats.py:\n" + "\n".join(stray)


def test_one_naming_scheme_and_legacy_tags_still_read():
    for f in ALL:
        if f.tag is not None:
            assert re.fullmatch(r"swe-srl\.[a-z-]+/v\d+", f.tag), f.tag
    # what earlier versions wrote to disk is still recognised, as the same output
    assert by_tag({"format": "swe-srl/eval-run/1"}) is EVAL_RUN
    assert by_tag({"format": "swe-srl/validation/1"}) is TASK_VALIDATION
    assert by_tag({"format": "something-else/v1"}) is None and by_tag([1]) is None


def test_the_three_report_json_are_told_apart():
    named = [f for f in ALL if f.file == "report.json"]
    assert {f.name for f in named} == {formats.CONVERT_REPORT.name, EVAL_RUN.name, formats.EVAL_INSTANCE.name}
    assert len({f.tag for f in named}) == 3  # two tags and SWE-bench's untagged per-instance report
