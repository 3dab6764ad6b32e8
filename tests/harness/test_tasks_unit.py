"""Task loading, repository lookup, mutators and problem statements (no Docker)."""

from __future__ import annotations

import difflib
import json

import pytest

from swe_srl.errors import SweSrlError
from swe_srl.tasks import load_predictions, load_tasks, resolve_repo_path
from swe_srl.tasks.mutate import MUTATION_KINDS, find_mutations, sample_sites
from swe_srl.tasks.statement import write_problem_statement

ROW = {"instance_id": "psf__requests-1", "repo": "psf/requests", "base_commit": "abc", "patch": "p", "test_patch": "",
       "problem_statement": "s", "version": "2.0", "environment_setup_commit": "abc",
       "FAIL_TO_PASS": json.dumps(["t.py::a"]), "PASS_TO_PASS": "[]"}


def test_test_lists_given_as_json_strings_become_lists(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps(ROW) + "\n" + json.dumps(dict(ROW, instance_id="psf__requests-2", FAIL_TO_PASS=["x"])) + "\n")
    tasks = load_tasks(p)
    assert tasks[0]["FAIL_TO_PASS"] == ["t.py::a"] and tasks[0]["PASS_TO_PASS"] == []
    assert tasks[1]["FAIL_TO_PASS"] == ["x"]


def test_json_list_and_parquet_load_the_same(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "t.json").write_text(json.dumps([ROW]))
    pq.write_table(pa.Table.from_pylist([ROW]), tmp_path / "t.parquet")
    assert load_tasks(tmp_path / "t.json") == load_tasks(tmp_path / "t.parquet")


def test_bad_test_list_names_the_file_line_and_field(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps(dict(ROW, FAIL_TO_PASS="not json")) + "\n")
    with pytest.raises(SweSrlError, match=r"t.jsonl:1.*FAIL_TO_PASS"):
        load_tasks(p)


def test_duplicate_instance_ids_are_refused(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text((json.dumps(ROW) + "\n") * 2)
    with pytest.raises(SweSrlError, match="duplicate"):
        load_tasks(p)


def test_repository_found_by_repo_path_or_owner__name_mirror(tmp_path):
    (tmp_path / "mirrors" / "psf__requests.git").mkdir(parents=True)
    task = dict(ROW)
    assert resolve_repo_path(task, tmp_path / "mirrors").name == "psf__requests.git"
    (tmp_path / "clone").mkdir()
    assert resolve_repo_path(dict(task, repo_path=str(tmp_path / "clone"))).name == "clone"
    with pytest.raises(SweSrlError, match="not found"):
        resolve_repo_path(task, tmp_path / "nowhere")


def test_gold_and_empty_predictions(tmp_path):
    tasks = [dict(ROW, FAIL_TO_PASS=[], PASS_TO_PASS=[])]
    assert load_predictions("gold", tasks)["psf__requests-1"]["model_patch"] == "p"
    assert load_predictions("empty", tasks)["psf__requests-1"]["model_patch"] == ""
    p = tmp_path / "preds.json"
    p.write_text(json.dumps([{"instance_id": "psf__requests-1", "model_name_or_path": "m", "model_patch": "d"}]))
    assert load_predictions(str(p), tasks)["psf__requests-1"]["model_patch"] == "d"


SRC = '''
def clamp(x, lo, hi):
    """Clamp x."""
    if x < lo:
        return lo
    total = 0
    for i in range(1, 3):
        total += i
    if x > hi and total:
        return hi
    return max(lo, min(x, hi))


def flag(x):
    return True
'''


def test_every_mutation_kind_changes_one_spot_and_compiles():
    muts = list(find_mutations(SRC, "m.py"))
    assert {m.kind for m in muts} == set(MUTATION_KINDS)
    for m in muts:
        assert m.mutated != SRC
        compile(m.mutated, "m.py", "exec")
        changed = [ln for ln in difflib.unified_diff(SRC.splitlines(), m.mutated.splitlines(), n=0, lineterm="")
                   if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
        assert 1 <= len(changed) <= 2, (m.kind, changed)
    assert any("if not x < lo:" in m.mutated or "if not (x < lo):" in m.mutated for m in muts if m.kind == "invert_condition")
    assert any("return False" in m.mutated for m in muts if m.kind == "change_return")
    assert any("range(1, 2)" in m.mutated or "range(2, 3)" in m.mutated for m in muts if m.kind == "off_by_one")
    assert any("min(hi, x)" in m.mutated for m in muts if m.kind == "swap_arguments")


def test_removed_statement_keeps_the_lines_around_it():
    m = next(m for m in find_mutations(SRC, "m.py") if m.kind == "remove_statement" and "total = 0" not in m.mutated)
    assert len(SRC.splitlines()) - len(m.mutated.splitlines()) == 1


def test_mutation_order_is_seeded_and_alternates_kinds():
    a = [(s.kind, s.line) for s in sample_sites({"m.py": SRC}, seed=1)]
    b = [(s.kind, s.line) for s in sample_sites({"m.py": SRC}, seed=1)]
    assert a == b
    assert len({k for k, _ in a[:len(MUTATION_KINDS)]}) == len(MUTATION_KINDS)


def test_problem_statement_says_what_fails_without_the_fix():
    log = ("___ test_clamp ___\nE   assert 5 == 3\n=== short test summary info ===\n"
           "FAILED tests/test_m.py::test_clamp - assert 5 == 3\n")
    text = write_problem_statement(function="clamp", path="m.py", fail_to_pass=["tests/test_m.py::test_clamp"],
                                   log=log, project="x/y")
    assert "tests/test_m.py::test_clamp" in text and "assert 5 == 3" in text and "`clamp`" in text
    assert "return hi" not in text and "diff" not in text


def test_spec_files_of_the_synthesized_projects_load():
    from swe_srl.sandbox import EnvSpec

    for repo in ("pypi/boltons", "pypi/more-itertools"):
        spec = EnvSpec.for_task({"instance_id": "x", "repo": repo})
        assert spec.log_parser == "pytest" and "-rA" in spec.test_cmd


def test_hub_name_without_a_reachable_hub_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(SweSrlError, match="princeton-nlp/SWE-bench_Lite"):
        load_tasks("princeton-nlp/SWE-bench_Lite")


def test_run_report_has_every_key_of_swebench_run_report(tmp_path, monkeypatch):
    swe_reporting = pytest.importorskip("swebench.harness.reporting")
    from swe_srl.harness.report import run_report

    tasks = [{"instance_id": "a__b-1"}, {"instance_id": "a__b-2"}]
    preds = {"a__b-1": {"instance_id": "a__b-1", "model_name_or_path": "m", "model_patch": "diff"}}
    monkeypatch.chdir(tmp_path)
    path = swe_reporting.make_run_report(preds, tasks, "r", report_dir=str(tmp_path))
    theirs = json.loads(open(path).read())
    ours = run_report(tasks, preds, tmp_path / "none", run_id="r")
    assert set(theirs) <= set(ours)
    for key in ("total_instances", "submitted_instances", "completed_instances", "resolved_instances",
                "incomplete_ids", "error_ids", "submitted_ids", "completed_ids", "resolved_ids"):
        assert ours[key] == theirs[key], key


def _verdict(resolved, f2p_ok, p2p_ok, status="resolved"):
    return {"resolved": resolved, "status": status, "tests_status": {
        "FAIL_TO_PASS": {"success": [t for t, ok in f2p_ok.items() if ok], "failure": [t for t, ok in f2p_ok.items() if not ok]},
        "PASS_TO_PASS": {"success": [t for t, ok in p2p_ok.items() if ok], "failure": [t for t, ok in p2p_ok.items() if not ok]}}}


def test_validation_flags_tests_whose_outcome_changes_between_gold_runs():
    from swe_srl.harness.validate import verdict_for

    task = {"FAIL_TO_PASS": ["f"], "PASS_TO_PASS": ["p", "q"]}
    good = _verdict(True, {"f": True}, {"p": True, "q": True})
    flaky = _verdict(False, {"f": True}, {"p": True, "q": False}, status="unresolved")
    empty = _verdict(False, {"f": False}, {"p": True, "q": True}, status="unresolved")
    assert verdict_for(task, [good, good], empty)["verdict"] == "valid"
    v = verdict_for(task, [good, flaky], empty)
    assert v["verdict"] == "flaky" and v["flaky_tests"] == ["q"]
    assert verdict_for(task, [flaky, flaky], empty)["verdict"] == "gold_fails"
    assert verdict_for(task, [good], _verdict(False, {"f": True}, {"p": True, "q": False}, "unresolved"))["verdict"] == "empty_resolves"
    assert verdict_for(task, [good], None)["verdict"] == "error"


def test_eval_cli_without_a_spec_is_one_line_error(tmp_path):
    import subprocess
    import sys

    (tmp_path / "repo").mkdir()
    task = dict(ROW, FAIL_TO_PASS=["t.py::a"], PASS_TO_PASS=[], repo="nobody/nothing", repo_path=str(tmp_path / "repo"))
    (tmp_path / "t.jsonl").write_text(json.dumps(task) + "\n")
    res = subprocess.run([sys.executable, "-m", "swe_srl", "eval", "--tasks", str(tmp_path / "t.jsonl"),
                          "--predictions", "gold", "--run-id", "x", "--out", str(tmp_path / "o")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert res.returncode == 1
    assert "no environment spec" in res.stdout and "Traceback" not in res.stdout


def test_eval_cli_refuses_unknown_predictions_file(tmp_path):
    import subprocess
    import sys

    (tmp_path / "t.jsonl").write_text(json.dumps(ROW) + "\n")
    res = subprocess.run([sys.executable, "-m", "swe_srl", "eval", "--tasks", str(tmp_path / "t.jsonl"),
                          "--predictions", str(tmp_path / "missing.jsonl"), "--run-id", "x"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    assert res.returncode == 1 and "missing.jsonl: no such file" in res.stdout
