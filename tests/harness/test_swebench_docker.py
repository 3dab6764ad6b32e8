"""Real SWE-bench rows in real sandboxes: a spec derived from SWE-bench's tables builds and
the gold patch of a pylint-dev/astroid dev instance resolves on it while the empty patch
does not; the same row graded through its official image (built here in the official
layout under the row's image name, since no registry is reachable) with the row's own
eval_script; and validation marks a deliberately flaky test as flaky."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from swe_srl.harness.run import EvalConfig, run_evaluation
from swe_srl.tasks.loading import load_predictions, load_tasks

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SWE_SRL_SHARED", ROOT.parent / "shared"))
DEV = SHARED / "swebench-dev"
INSTANCE = "pylint-dev__astroid-1092"  # Python 3.9, 1 FAIL_TO_PASS, 313 PASS_TO_PASS, tests in about 5 s


@pytest.fixture(scope="module")
def astroid(tmp_path_factory) -> tuple[dict, Path]:
    """The dev row (as published) and a repos dir holding a bare mirror cloned from the bundle."""
    if not (DEV / "astroid-dev.jsonl").is_file() or not (DEV / "astroid.bundle").is_file():
        pytest.skip(f"{DEV} is absent")
    (task,) = load_tasks(DEV / "astroid-dev.jsonl", instance_ids=[INSTANCE], strict_ids=True)
    repos = tmp_path_factory.mktemp("repos")
    subprocess.run(["git", "clone", "-q", "--mirror", str(DEV / "astroid.bundle"), str(repos / "pylint-dev__astroid")],
                   check=True)
    return task, repos


def _report(out: Path, iid: str) -> dict:
    return json.loads((out / iid / "report.json").read_text())[iid]


def test_derived_spec_builds_gold_resolves_and_empty_fails(docker_engine, astroid, tmp_path):
    from swe_srl.harness.validate import validate_tasks

    task, repos = astroid
    row = {k: v for k, v in task.items() if k != "image"}  # the derived route even where the image exists
    report = validate_tasks([row], tmp_path / "v", repeat=1, repos_dir=repos, timeout=900)
    verdict = report["instances"][INSTANCE]
    assert verdict["verdict"] == "valid", verdict
    assert verdict["gold_resolves"] and verdict["empty_fails"] and verdict["environment"] == "derived"
    gold = _report(tmp_path / "v" / "gold-1", INSTANCE)
    assert gold["tests_status"]["FAIL_TO_PASS"]["success"] == json.loads(json.dumps(task["FAIL_TO_PASS"]))
    assert len(gold["tests_status"]["PASS_TO_PASS"]["success"]) == 313
    empty = _report(tmp_path / "v" / "empty", INSTANCE)
    assert empty["tests_status"]["FAIL_TO_PASS"]["failure"] == task["FAIL_TO_PASS"]


OFFICIAL_LAYER = """FROM {base}
USER root
# The official layout: the repository in /testbed owned by root, `source /opt/miniconda3/bin/activate`
# and `conda activate testbed` (here a shim over the environment's venv), commands run as root.
RUN mkdir -p /opt/miniconda3/bin \\
 && printf '%s\\n' 'conda() {{ . /opt/venv/bin/activate; }}' > /opt/miniconda3/bin/activate \\
 && chown -R root:root /testbed /opt/venv
ENV PIP_NO_INDEX=1
WORKDIR /testbed
LABEL swe-srl.managed=true swe-srl.kind=test
"""


@pytest.fixture(scope="module")
def official_image(docker_engine, astroid):
    """An image in the official layout, carrying the name the row gives."""
    from swe_srl.sandbox import EnvSpec, build_env_image
    from swe_srl.tasks.swebench import derive_spec

    task, repos = astroid
    spec = EnvSpec.from_dict(derive_spec(task))
    base = build_env_image(spec, repos / "pylint-dev__astroid", task["base_commit"], name="astroid")
    name = task["image"]
    docker_engine.images.build(fileobj=io.BytesIO(OFFICIAL_LAYER.format(base=base).encode()), tag=name, rm=True,
                               network_mode="none", pull=False)
    yield name
    docker_engine.images.remove(name, force=True)


def test_official_image_is_graded_with_the_rows_eval_script(official_image, astroid, tmp_path):
    task, _ = astroid
    config = EvalConfig(run_id="official", timeout=900, pull=False)  # no --repos-dir: the image has /testbed
    for kind in ("gold", "empty"):
        run_evaluation([task], load_predictions(kind, [task]), tmp_path / kind, config)
    gold, empty = _report(tmp_path / "gold", INSTANCE), _report(tmp_path / "empty", INSTANCE)
    assert gold["environment"] == "image" and gold["log_parser"] == "parse_log_astroid"
    assert gold["resolved"], gold
    assert len(gold["tests_status"]["PASS_TO_PASS"]["success"]) == 313
    assert (tmp_path / "gold" / INSTANCE / "eval.sh").read_text() == task["eval_script"]
    assert not empty["resolved"] and empty["tests_status"]["FAIL_TO_PASS"]["failure"] == task["FAIL_TO_PASS"]


def test_validation_marks_a_deliberately_flaky_test_as_flaky(docker_engine, calc, tmp_path):
    """``test_clock`` passes before a deadline and fails after it: the first gold run is before
    it, the second after (the callback waits), so the gold runs disagree on that test alone."""
    from swe_srl.sandbox import EnvSpec, build_env_image
    from swe_srl.harness.validate import validate_tasks

    task = calc.make_task(tmp_path / "src")
    repo = Path(task["repo_path"])
    build_env_image(EnvSpec.for_task(task), repo, task["base_commit"], name="calc")  # built before the clock starts
    deadline = time.time() + 25
    clock = f"\n\ndef test_clock():\n    import time\n    assert time.time() < {deadline!r}\n"
    (repo / "tests" / "test_calc.py").write_text(calc.TEST_ADD + clock)
    task["test_patch"] = calc.git(repo, "diff")
    calc.git(repo, "checkout", "-q", "--", ".")
    task["PASS_TO_PASS"] = [*task["PASS_TO_PASS"], "tests/test_calc.py::test_clock"]

    def wait_after_first_gold(phase: str, iid: str, verdict: dict, skipped: bool) -> None:
        if phase == "gold-1":
            assert verdict["resolved"], "the first gold run must finish before the deadline"
            time.sleep(max(0.0, deadline + 1 - time.time()))

    report = validate_tasks([task], tmp_path / "v", repeat=2, on_result=wait_after_first_gold, timeout=300)
    verdict = report["instances"][task["instance_id"]]
    assert verdict["verdict"] == "flaky" and verdict["flaky_tests"] == ["tests/test_calc.py::test_clock"]
    assert verdict["gold_resolved"] == [True, False] and report["valid_ids"] == []


def test_an_inline_spec_comes_before_the_official_image(official_image, astroid, tmp_path):
    from swe_srl.tasks.swebench import derive_spec

    task, repos = astroid
    row = dict(task, spec=derive_spec(task))  # the row names an image that is present; its inline spec wins
    run_evaluation([row], load_predictions("gold", [row]), tmp_path, EvalConfig(run_id="inline", repos_dir=repos,
                                                                                   timeout=900, pull=False))
    gold = _report(tmp_path, INSTANCE)
    assert gold["environment"] == "spec" and gold["resolved"], gold
