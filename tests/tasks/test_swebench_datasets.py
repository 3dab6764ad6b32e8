"""SWE-bench datasets as published: every layout loads the same rows, ids filter them, specs
are derived from SWE-bench's own tables (or the reason why not is given), repositories come
from --repos-dir or a mirror cache, and offline without either is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swe_srl.errors import SweSrlError
from swe_srl.tasks.loading import load_tasks, read_id_filter, resolve_repo_path
from swe_srl.tasks.swebench import CannotDerive, Tables, conda_to_pip, derive_spec, load_tables

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SWE_SRL_SHARED", ROOT.parent / "shared"))
DEV = SHARED / "swebench-dev"


def _row(i: int, **kw) -> dict:
    """A row the way the published datasets store it (test lists as JSON strings)."""
    row = {"repo": "pylint-dev/astroid", "instance_id": f"pylint-dev__astroid-{i}", "base_commit": "a" * 40,
           "patch": "", "test_patch": "", "problem_statement": "p", "hints_text": "", "version": "2.5",
           "created_at": "2021-06-15T11:04:30Z", "environment_setup_commit": "a" * 40,
           "FAIL_TO_PASS": json.dumps([f"tests/t.py::test_{i}"]), "PASS_TO_PASS": "[]",
           "image": f"swebench/sweb.eval.x86_64.pylint-dev_1776_astroid-{i}:latest", "eval_script": "#!/bin/bash\n",
           "log_parser": "parse_log_astroid", "eval_type": "pass_and_fail"}
    row.update(kw)
    return row


@pytest.fixture(scope="module")
def splits() -> dict[str, list[dict]]:
    return {"test": [_row(1), _row(2)], "dev": [_row(3)]}


def _ids(tasks: list[dict]) -> list[str]:
    return [t["instance_id"] for t in tasks]


def test_every_published_layout_loads_the_same_rows(tmp_path, splits):
    datasets = pytest.importorskip("datasets")
    import pyarrow as pa
    import pyarrow.parquet as pq

    test = splits["test"]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in test))
    (tmp_path / "t.json").write_text(json.dumps(test))
    pq.write_table(pa.Table.from_pylist(test), tmp_path / "t.parquet")
    dd = datasets.DatasetDict({k: datasets.Dataset.from_list(v) for k, v in splits.items()})
    dd.save_to_disk(str(tmp_path / "saved_dict"))
    dd["test"].save_to_disk(str(tmp_path / "saved_one"))
    hub = tmp_path / "hub" / "data"
    hub.mkdir(parents=True)
    for name, rows in splits.items():
        pq.write_table(pa.Table.from_pylist(rows), hub / f"{name}-00000-of-00001.parquet")
    (tmp_path / "flat").mkdir()
    for name, rows in splits.items():
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / "flat" / f"{name}.parquet")

    for source in ["t.jsonl", "t.json", "t.parquet", "saved_dict", "saved_one", "hub", "flat"]:
        tasks = load_tasks(tmp_path / source)
        assert _ids(tasks) == ["pylint-dev__astroid-1", "pylint-dev__astroid-2"], source
        assert tasks[0]["FAIL_TO_PASS"] == ["tests/t.py::test_1"] and tasks[0]["PASS_TO_PASS"] == [], source
        assert tasks[0]["image"].startswith("swebench/sweb.eval") and tasks[0]["log_parser"] == "parse_log_astroid"
    for source in ["saved_dict", "hub", "flat"]:
        assert _ids(load_tasks(tmp_path / source, split="dev")) == ["pylint-dev__astroid-3"], source
        with pytest.raises(SweSrlError, match=r"no split 'train' \(splits: dev, test\)"):
            load_tasks(tmp_path / source, split="train")


def test_rows_without_the_current_harness_fields_load(tmp_path):
    old = {k: v for k, v in _row(7).items() if k not in ("image", "eval_script", "log_parser", "eval_type")}
    (tmp_path / "old.jsonl").write_text(json.dumps(old) + "\n")
    (task,) = load_tasks(tmp_path / "old.jsonl")
    assert "image" not in task and task["FAIL_TO_PASS"] == ["tests/t.py::test_7"]


def test_instance_ids_and_filter_files(tmp_path, splits):
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in splits["test"]))
    assert _ids(load_tasks(path, instance_ids=["pylint-dev__astroid-2"], strict_ids=True)) == ["pylint-dev__astroid-2"]
    with pytest.raises(SweSrlError, match="not in the dataset: nope"):
        load_tasks(path, instance_ids=["nope"], strict_ids=True)
    (tmp_path / "ids.txt").write_text("# keep\npylint-dev__astroid-1\n\n")
    (tmp_path / "ids.json").write_text('["pylint-dev__astroid-2"]')
    (tmp_path / "validation.json").write_text(json.dumps({"valid_ids": ["pylint-dev__astroid-1"], "instances": {}}))
    assert read_id_filter(tmp_path / "ids.txt") == ["pylint-dev__astroid-1"]
    assert read_id_filter(tmp_path / "ids.json") == ["pylint-dev__astroid-2"]
    assert read_id_filter(tmp_path / "validation.json") == ["pylint-dev__astroid-1"]
    (tmp_path / "bad.json").write_text('{"resolved": 1}')
    with pytest.raises(SweSrlError, match="bad.json: a JSON object without valid_ids"):
        read_id_filter(tmp_path / "bad.json")


def _tables(**specs) -> Tables:
    return Tables(specs={"o/r": specs}, reqs_paths={"o/r": ["requirements/dev.txt", "requirements.txt"]},
                  env_yml_paths={}, install={}, source="test", sha256="0")


def test_conda_packages_become_pip_requirements_or_a_reason():
    assert conda_to_pip("numpy=1.19") == "numpy==1.19.*"
    assert conda_to_pip("scipy==1.5.2") == "scipy==1.5.2"
    assert conda_to_pip("matplotlib-base") == "matplotlib"
    assert conda_to_pip("python") is None
    with pytest.raises(CannotDerive, match="conda-only package 'mkl'"):
        conda_to_pip("mkl")


def test_derivation_translates_the_table_and_names_what_it_cannot():
    row = {"instance_id": "o__r-1", "repo": "o/r", "base_commit": "b" * 40, "created_at": "2022-03-01 18:24:29",
           "version": "1.0"}
    spec = derive_spec(row, _tables(**{"1.0": {
        "python": "3.9", "packages": "numpy=1.19 'pandas<2.0'", "pip_packages": ["pytest==7.0.0"],
        "pre_install": ["sed -i 's/a/b/' setup.cfg"], "install": "python -m pip install -e .[test]",
        "eval_commands": ["export LANG=C.UTF-8"], "test_cmd": "pytest -rA"}}))
    assert spec["python"] == "3.9" and spec["exclude_newer"] == "2022-03-01T18:24:29Z"
    assert spec["pip_packages"] == ["numpy==1.19.*", "pandas<2.0", "pytest==7.0.0"]
    assert spec["install"] == ["sed -i 's/a/b/' setup.cfg", "python -m pip install --no-build-isolation -e '.[test]'"]
    assert spec["repo_requirements"] == [".[test]"] and spec["log_parser"] == "o/r"
    assert spec["test_cmd"] == "export LANG=C.UTF-8; pytest -rA"
    reqs = derive_spec(dict(row, version="2.0"), _tables(**{"2.0": {
        "python": "3.11", "packages": "requirements.txt", "install": "python setup.py develop", "test_cmd": "pytest"}}))
    assert reqs["repo_requirements"] == ["requirements/dev.txt|requirements.txt", "."]
    reasons = {
        "Python 3.6 has no base image here": {"python": "3.6", "test_cmd": "pytest"},
        "environment.yml": {"python": "3.9", "packages": "environment.yml", "test_cmd": "pytest"},
        r"apt packages \(locales\)": {"python": "3.9", "pre_install": ["apt-get update && apt-get install -y locales"],
                                      "test_cmd": "pytest"},
        "downloads at build time": {"python": "3.9", "pre_install": ["wget -O /tmp/x http://x"], "test_cmd": "pytest"},
        "conda-only package 'gxx_linux-64'": {"python": "3.9", "packages": "gxx_linux-64", "test_cmd": "pytest"},
    }
    for reason, table in reasons.items():
        with pytest.raises(CannotDerive, match=reason):
            derive_spec(row, _tables(**{"1.0": table}))
    with pytest.raises(CannotDerive, match=r"no SWE-bench spec for version '9.9' \(known: 1.0\)"):
        derive_spec(dict(row, version="9.9"), _tables(**{"1.0": {"python": "3.9", "test_cmd": "pytest"}}))


@pytest.fixture(scope="module")
def astroid_rows() -> Path:
    path = DEV / "astroid-dev.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


def test_swebench_tables_are_read_as_data_from_the_4_1_release():
    tables = load_tables()
    astroid = tables.specs["pylint-dev/astroid"]
    assert astroid["2.5"]["python"] == "3.9" and astroid["2.5"]["install"] == "python -m pip install -e ."
    assert "django/django" in tables.specs and tables.reqs_paths["django/django"] == ["tests/requirements/py3.txt"]
    assert "python.py" in tables.source and len(tables.sha256) == 64


def test_every_astroid_dev_row_gets_a_derived_spec_dated_by_its_row(astroid_rows):
    tasks = load_tasks(astroid_rows)
    assert len(tasks) == 31
    for task in tasks:
        spec = derive_spec(task)
        assert spec["python"] == "3.9" and spec["test_cmd"] == "pytest -rA"
        assert spec["exclude_newer"] == task["created_at"]  # published as 2021-06-15T11:04:30Z
        assert spec["install"] == ["python -m pip install --no-build-isolation -e ."]
        assert spec["repo_requirements"] == ["."] and spec["pip_packages"] == ["pytest"]


def _cli(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swe_srl", *args], cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600, env={**os.environ, **(env or {})})


def test_tasks_specs_on_the_dev_set(astroid_rows, tmp_path):
    out = tmp_path / "specs.json"
    res = _cli("tasks", "specs", str(astroid_rows), "--out", str(out), "--no-check-images")
    assert res.returncode == 0, res.stdout
    report = json.loads(out.read_text())
    assert report["total"] == 31 and report["derived"] == 31 and report["by_route"] == {"derived": 31}
    groups = {g["version"]: g for g in report["summary"]}
    assert sorted(groups, key=lambda v: tuple(map(int, v.split(".")))) == \
        ["2.5", "2.6", "2.7", "2.9", "2.10", "2.12", "2.13", "2.14", "2.15", "3.0"]
    assert groups["2.5"]["instances"] == 7 and groups["2.5"]["derived"] == 7 and groups["2.5"]["cannot_derive"] == {}
    row = next(r for r in report["instances"] if r["instance_id"] == "pylint-dev__astroid-1030")
    assert row["derived_spec"]["exclude_newer"] == "2021-06-15T11:04:30Z"
    assert report["tables"]["release"] == "4.1.0"
    assert "pylint-dev/astroid 2.5" in res.stdout


def _tables_env() -> dict:
    """Point a fresh cache at the tables already read (so the test needs no download)."""
    return {"SWE_SRL_SWEBENCH_TABLES": load_tables().source.split("!")[0]}


def test_offline_without_a_repository_is_one_line(astroid_rows, tmp_path):
    env = {**_tables_env(), "SWE_SRL_CACHE": str(tmp_path / "cache"),
           "SWE_SRL_REPO_URL": f"file://{tmp_path}/nowhere/{{slug}}.git"}
    res = _cli("eval", "--tasks", str(astroid_rows), "--instance-ids", "pylint-dev__astroid-1092", "--predictions",
               "gold", "--run-id", "offline", "--out", str(tmp_path / "o"), "--no-pull", env=env)
    assert res.returncode == 1, res.stdout
    assert "Traceback" not in res.stdout
    line = " ".join(res.stdout.split())
    assert "repository pylint-dev/astroid is not available offline" in line
    assert "--repos-dir DIR with DIR/pylint-dev__astroid" in line


def test_repositories_come_from_repos_dir_or_a_mirror_cache_cloned_once(tmp_path, monkeypatch):
    bundle = DEV / "astroid.bundle"
    if not bundle.is_file():
        pytest.skip(f"{bundle} is absent")
    task = {"instance_id": "pylint-dev__astroid-1092", "repo": "pylint-dev/astroid",
            "base_commit": "c9c498348174b38ce35bfe001353c8ebea262802"}
    monkeypatch.setenv("SWE_SRL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SWE_SRL_REPO_URL", str(bundle))
    mirror = resolve_repo_path(task)
    assert mirror == tmp_path / "cache" / "repos" / "pylint-dev__astroid.git"
    assert subprocess.run(["git", "-C", str(mirror), "rev-parse", "--is-bare-repository"], stdout=subprocess.PIPE,
                          text=True).stdout.strip() == "true"
    monkeypatch.setenv("SWE_SRL_REPO_URL", str(tmp_path / "gone"))  # cached: no second clone
    assert resolve_repo_path(dict(task, instance_id="other")) == mirror
    (tmp_path / "repos" / "pylint-dev__astroid").mkdir(parents=True)
    assert resolve_repo_path(task, tmp_path / "repos") == tmp_path / "repos" / "pylint-dev__astroid"
