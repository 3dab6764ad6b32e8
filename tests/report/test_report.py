"""`swe-srl report`: discovery, the page's content, links, embedded images, CLI."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from swe_srl.errors import SweSrlError
from swe_srl.report import build_report, write_report
from swe_srl.report.discover import discover
from swe_srl.report.html import Linker
from swe_srl.report.metrics import headlines, series_from_records

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """Collects tags, attributes and text of a page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag]


def _load(run_dir: Path, name: str) -> dict:
    return json.loads((run_dir / name).read_text())


def test_discover_finds_each_stage_wherever_it_sits(run_dir):
    found = discover(run_dir)
    assert [found.rel(d.path) for d in found.datasets] == ["data/srl"]
    assert found.datasets[0].splits == ["train", "validation"]
    assert [found.rel(c.path) for c in found.converts] == ["traj"]
    # checkpoint-*/trainer_state.json is a copy, not another run
    assert sorted(found.rel(t.path) for t in found.trainings) == ["train/sft", "train/srl"]
    srl = next(t for t in found.trainings if t.path.name == "srl")
    assert srl.bad_lines == 1 and [n for n, _ in srl.plots] == ["plots/reward.png"]
    # the trainer's summary.json belongs to the training run, not to an agent run
    assert srl.summary is not None and srl.summary["method"] == "srl"
    assert [found.rel(a.path) for a in found.agent_runs] == ["agent/srl"]
    assert found.agent_runs[0].summary["total_tasks"] == 4
    labels = {found.rel(e.path): (e.task_set, e.policy) for e in found.evals}
    # policy and task set of the agent's eval come from the run whose predictions it graded
    assert labels == {"eval/srl": ("synth", "hf:srl"), "eval/gold": ("synth", "gold")}
    ev = next(e for e in found.evals if e.path.name == "srl")
    rep = _load(ev.path, "report.json")
    statuses = {i.instance_id: i.status for i in ev.instances}
    assert {k for k, v in statuses.items() if v == "resolved"} == set(rep["resolved_ids"])
    assert {k for k, v in statuses.items() if v == "empty_patch"} == set(rep["empty_patch_ids"])
    assert any("malformed" in n for n in found.notes) and any("not a PNG" in n for n in found.notes)


def test_page_has_every_section_and_escapes_file_content(written):
    run_dir, _, text, _ = written
    page = Page(text)
    ids = {a.get("id") for _, a in page.tags}
    assert {"overview", "dataset", "convert", "training", "agent", "evaluation"} <= ids
    # Text taken from files (a skip reason, a summary field, a metric name) is escaped.
    assert "<script" not in text.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;" in text
    assert "<b>odd</b>" not in text and "&lt;b&gt;odd&lt;/b&gt;" in text
    body = "".join(page.text)
    assert "alert('x')" in body  # shown to the reader as text
    assert "Not found" not in body  # everything is present in this run
    # dataset numbers are shown as read
    stats = _load(run_dir / "data" / "srl", "stats.json")
    assert f"{stats['rows']['train']:,}" in body and "str_replace_editor" in body


def test_resolve_rates_match_the_run_reports(written):
    _, _, text, found = written
    body = "".join(Page(text).text)
    for ev in found.evals:
        rep = _load(ev.path, "report.json")
        rate = 100.0 * rep["resolved_instances"] / rep["total_instances"]
        assert f"{rate:.1f}%" in body
        for iid in rep["submitted_ids"]:
            assert iid in body


def _links(text: str) -> list[str]:
    return [a["href"] for a in Page(text).all("a") if not a["href"].startswith("#")]


@pytest.mark.parametrize("outside", [False, True], ids=["in-run-dir", "out-elsewhere"])
def test_links_are_relative_and_point_at_existing_files(written, tmp_path, make_run_dir, outside):
    run_dir, path, text, found = written
    if outside:  # a smaller run (no training charts): the links are what is checked
        run_dir = make_run_dir(tmp_path / "run", with_training=False)
        path, found = write_report(run_dir, tmp_path / "elsewhere" / "r.html")
        text = path.read_text()
    hrefs = _links(text)
    targets = set()
    for href in hrefs:
        parsed = urlparse(href)
        assert not parsed.scheme and not parsed.netloc and not href.startswith("/"), href
        target = (path.parent / unquote(parsed.path)).resolve()
        assert target.is_file(), href
        targets.add(target)
    for ev in found.evals:
        for inst in ev.instances:
            for name in ("patch.diff", "test_output.txt"):
                f = ev.path / inst.instance_id / name
                assert (f.resolve() in targets) == f.is_file(), f


def test_link_names_are_percent_encoded(tmp_path):
    odd = tmp_path / "runs" / "a b#1?" / "patch.diff"
    odd.parent.mkdir(parents=True)
    odd.write_text("x")
    href = Linker(tmp_path / "runs" / "report.html").href(odd)
    assert " " not in href and "#" not in href and "?" not in href
    assert (tmp_path / "runs" / unquote(href)).is_file()


def test_embedded_images_are_pngs_and_the_page_needs_no_network(written):
    from PIL import Image

    run_dir, _, text, _ = written
    page = Page(text)
    imgs = page.all("img")
    classes = " ".join(i.get("class", "") for i in imgs)
    for headline in ("reward", "drop", "similarity", "resolve"):
        assert headline in classes.split(), headline
    assert "series-grid" in classes and "trainer-plot" in classes and "chart-bar" in classes
    for i in imgs:
        src = i["src"]
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data.startswith(PNG_MAGIC)
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
    # the trainer's own plot is embedded byte for byte
    trainer_png = (run_dir / "train" / "srl" / "plots" / "reward.png").read_bytes()
    assert base64.b64encode(trainer_png).decode() in text
    # self-contained: no scripts, no external stylesheets, fonts or images
    assert not page.all("script") and not page.all("link") and not page.all("iframe")
    for _, attrs in page.tags:
        for key in ("src", "href"):
            assert not attrs.get(key, "").startswith(("http:", "https:", "//")), attrs
    assert "@import" not in text and "url(" not in text


def test_headline_series_follow_the_trainer_keys():
    records = [
        {"step": s, "reward": 0.1 * s, "reward_std": 0.05, "dynamic_sampling/drop_fraction": 0.5 / s,
         "dynamic_sampling/dropped_groups": 8.0 / s, "loss": float("nan") if s == 2 else 1.0 / s,
         "rewards/srl/mean": 0.1, "rewards/srl/std": 0.2}
        for s in range(1, 5)
    ] + [{"step": 4, "validation/similarity": 0.3, "validation/reward": 0.1, "note": "text"}]
    series = series_from_records(records)
    assert series["loss"].x == [1.0, 3.0, 4.0]  # non-finite values are skipped
    assert "note" not in series and "step" not in series
    h = headlines(series)
    assert (h.reward, h.reward_std) == ("reward", "reward_std")
    assert h.drop == ["dynamic_sampling/drop_fraction"]  # a rate, not the count of dropped groups
    assert h.similarity == ["validation/similarity"]
    assert h.bands == {"rewards/srl/mean": "rewards/srl/std"}
    assert "dynamic_sampling/dropped_groups" in h.rest and "rewards/srl/std" not in h.rest
    assert "validation/reward" in h.rest


def test_missing_pieces_are_noted_not_fatal(tmp_path, make_run_dir):
    import shutil

    run = make_run_dir(tmp_path / "run", with_training=False)
    shutil.rmtree(run / "data")
    shutil.rmtree(run / "traj")
    text, found = build_report(run)
    assert not found.trainings and not found.datasets and found.evals
    body = "".join(Page(text).text)
    assert body.count("Not found") == 3  # dataset, conversion, training


def test_eval_labels_fall_back_to_the_graded_run_then_the_instance_ids(tmp_path, make_run_dir):
    run = make_run_dir(tmp_path / "run", with_training=False)
    rep_file = run / "eval" / "srl" / "report.json"
    rep = json.loads(rep_file.read_text())
    del rep["tasks"]
    rep_file.write_text(json.dumps(rep))
    labels = {e.path.name: (e.task_set, e.policy) for e in discover(run).evals}
    # the policy comes from the agent run whose predictions.jsonl it graded, the task set from
    # the instance ids (one repository) since neither report names the tasks file
    assert labels["srl"] == ("acme__widgets", "hf:srl")
    del rep["predictions"]
    rep_file.write_text(json.dumps(rep))
    labels = {e.path.name: (e.task_set, e.policy) for e in discover(run).evals}
    assert labels["srl"] == ("acme__widgets", "demo-srl")  # the run id


def test_nothing_recognisable_is_an_error(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "report.json").write_text('{"unrelated": 1}')
    (tmp_path / "empty" / "sub" / "summary.json").write_text('{"benchmark": "x", "mean": 2}')  # another tool's
    with pytest.raises(SweSrlError, match="nothing to report"):
        build_report(tmp_path / "empty")
    with pytest.raises(SweSrlError, match="no such directory"):
        build_report(tmp_path / "missing")


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "swe_srl", *args], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)


def test_cli_writes_the_page_atomically_and_fails_in_one_line(tmp_path, make_run_dir):
    run_dir = make_run_dir(tmp_path / "run", with_training=False)
    res = _cli("report", str(run_dir))
    assert res.returncode == 0, res.stderr
    page = run_dir / "report.html"
    assert page.is_file() and page.stat().st_size > 10_000
    assert str(page) in res.stdout.replace("\n", "")
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    assert oct(page.stat().st_mode & 0o044) == oct(0o044)  # readable by others, like any report
    empty = tmp_path / "nothing"
    empty.mkdir()
    bad = _cli("report", str(empty))
    assert bad.returncode != 0
    lines = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "nothing to report" in lines[0] and "Traceback" not in bad.stderr


def test_real_convert_and_dataset_outputs_render(samples_dir, tmp_path):
    """The stages' own writers (not this test's fixtures) produce what the page reads."""
    from swe_srl.data.build import DatasetConfig, build_dataset
    from swe_srl.trajectories.convert import convert

    run = tmp_path / "run"
    conv = convert([samples_dir], run / "traj")
    stats = build_dataset(run / "traj" / "trajectories.jsonl", run / "data" / "srl", DatasetConfig(kind="srl"))
    text, found = build_report(run)
    assert [found.rel(c.path) for c in found.converts] == ["traj"]
    assert [found.rel(d.path) for d in found.datasets] == ["data/srl"]
    body = "".join(Page(text).text)
    assert f"{conv['trajectories']:,}" in body and f"{conv['steps']:,}" in body
    assert f"{stats['rows']['train']:,}" in body
    top_tool = next(iter(stats["actions_by_tool"]))
    assert top_tool in body
    assert text.count('class="plot chart-bar"') >= 2  # actions by tool: dataset and conversion


def test_runs_side_by_side_keep_their_labels(tmp_path, make_run_dir):
    """Two runs under one RUN_DIR: each eval's relative predictions path resolves
    inside its own run, and equal labels stay apart on the page."""
    for name in ("a", "b"):
        make_run_dir(tmp_path / "all" / name, with_training=False)
    found = discover(tmp_path / "all")
    labels = sorted((found.rel(e.path), e.task_set, e.policy) for e in found.evals)
    assert labels == [
        ("a/eval/gold", "synth", "gold"), ("a/eval/srl", "synth", "hf:srl"),
        ("b/eval/gold", "synth", "gold"), ("b/eval/srl", "synth", "hf:srl"),
    ]
    text, _ = build_report(tmp_path / "all")
    assert "hf:srl (b/eval/srl)" in text
