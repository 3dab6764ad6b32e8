"""The HTML report finds every `swe-srl score` file under a run folder and compares them."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from swe_srl.report import build_report
from swe_srl.report.discover import discover
from swe_srl.train.score import score_completions

EXPERT = "<function=bash>\n<parameter=command>ls -la</parameter>\n</function>"
ROWS = [{"expert_action": EXPERT, "tool": "bash"}, {"expert_action": "<function=submit>\n</function>", "tool": "submit"}]


class Cells(HTMLParser):
    """The text of every table row of the page's step-scores section."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._in_scores = False
        self._cell: list[str] | None = None
        section = text.split('<section id="scores">', 1)[1].split("</section>", 1)[0]
        self.feed(section)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _score_file(path: Path, label: str | None, answers: list[str]) -> dict:
    data = {"format": "swe-srl.score/v1", "split": "validation", "backend": "hf", "max_new_tokens": 64,
            **score_completions(answers, ROWS)}
    if label is not None:
        data["label"] = label
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return data


def test_every_score_file_is_found_and_compared(tmp_path):
    run = tmp_path / "run"
    good = "<think>x</think><function=bash><parameter=command>ls -la</parameter></function>"
    close = "<think>x</think><function=bash><parameter=command>ls -l</parameter></function>"
    _score_file(run / "scores" / "base.json", "base", ["no format", "no format"])
    _score_file(run / "scores" / "sft.json", "sft", [close, "no format"])
    _score_file(run / "train" / "srl" / "score-validation.json", None, [good, "<think>done</think><function=submit></function>"])
    (run / "scores" / "notes.json").write_text(json.dumps({"comment": "not a score file"}))
    (run / "train" / "srl" / "scores.txt").write_text("samples: 3")

    found = discover(run)
    assert sorted((found.rel(s.path), s.label) for s in found.scores) == [
        ("scores/base.json", "base"), ("scores/sft.json", "sft"), ("train/srl/score-validation.json", "score-validation")]

    html, _ = build_report(run)
    rows = Cells(html).rows
    assert rows[0][:7] == ["model", "split", "samples", "format valid", "mean similarity", "same-tool similarity", "exact match"]
    by_label = {r[0]: r for r in rows[1:4]}
    assert by_label["base"][1:7] == ["validation", "2", "0.0%", "0", "0", "0.0%"]
    # sft: one answer one character short (128/129 = 0.9922), one format failure (0): mean 0.4961
    assert by_label["sft"][3:7] == ["50.0%", "0.4961", "0.4961", "0.0%"]
    assert by_label["score-validation"][3:7] == ["100.0%", "1", "1", "100.0%"]
    assert "<b>1</b>" in html  # the best mean similarity stands out
    # the per-tool comparison sits below, one column per expert tool
    assert ["model", "bash", "submit"] in rows


def test_a_run_with_only_score_files_is_reportable(tmp_path):
    _score_file(tmp_path / "score.json", "base", ["x", "y"])
    html, found = build_report(tmp_path)
    assert len(found.scores) == 1 and 'id="scores"' in html and "Not found: no score" not in html
