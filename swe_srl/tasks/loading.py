"""Loading task instances (SWE-bench schema) and predictions.

Tasks come from JSON (a list or one object), JSONL, parquet, or a Hugging Face
dataset name (``princeton-nlp/SWE-bench_Verified`` or ``NAME:SPLIT``) when a hub
is reachable. ``FAIL_TO_PASS`` / ``PASS_TO_PASS`` may be lists or JSON-encoded
strings (the official dataset stores strings); they are always lists afterwards.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from swe_srl.errors import SweSrlError
from swe_srl.io import read_records

REQUIRED = ("instance_id", "repo", "base_commit")
TEST_LISTS = ("FAIL_TO_PASS", "PASS_TO_PASS")
TEXT_FIELDS = ("patch", "test_patch", "problem_statement", "version", "environment_setup_commit", "hints_text", "created_at")


def _as_list(value: Any, where: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise SweSrlError(f"{where}: not a JSON list of test names") from None
    if hasattr(value, "tolist"):  # numpy arrays from parquet
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise SweSrlError(f"{where}: expected a list of test names")
    return list(value)


def normalize_task(task: dict[str, Any], where: str = "task") -> dict[str, Any]:
    """Check the required fields and coerce types (lists of tests, text fields)."""
    if not isinstance(task, dict):
        raise SweSrlError(f"{where}: a task must be a JSON object")
    for key in REQUIRED:
        if not task.get(key) or not isinstance(task[key], str):
            raise SweSrlError(f"{where}: missing or empty field {key!r}")
    out = dict(task)
    where = f"{where} ({task['instance_id']})"
    for key in TEST_LISTS:
        out[key] = _as_list(task.get(key), f"{where}: {key}")
    for key in TEXT_FIELDS:
        value = out.get(key)
        out[key] = "" if value is None else str(value)
    if out.get("spec") is not None and not isinstance(out["spec"], dict):
        if isinstance(out["spec"], str):
            try:
                out["spec"] = json.loads(out["spec"])
            except json.JSONDecodeError:
                raise SweSrlError(f"{where}: spec must be an object") from None
        else:
            raise SweSrlError(f"{where}: spec must be an object")
    return out


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow ships with datasets
        raise SweSrlError(f"{path}: reading parquet needs pyarrow") from None
    return pq.read_table(path).to_pylist()


def _read_hub(name: str) -> list[dict[str, Any]]:
    import datasets

    dataset, _, split = name.partition(":")
    try:
        ds = datasets.load_dataset(dataset, split=split or "test")
    except Exception as e:  # the hub may be unreachable: one clear line
        raise SweSrlError(f"{name}: not a file, and loading it from the Hugging Face hub failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return [dict(r) for r in ds]


def load_tasks(path_or_name: str | os.PathLike, *, instance_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Task instances from a file (JSON, JSONL, parquet) or a hub dataset name."""
    path = Path(path_or_name)
    if path.is_file():
        rows = _read_parquet(path) if path.suffix == ".parquet" else read_records(path)
        where = str(path)
    elif path.is_dir():
        files = sorted([*path.glob("*.parquet"), *path.glob("*.jsonl"), *path.glob("*.json")])
        if not files:
            raise SweSrlError(f"{path}: a directory without task files (.jsonl, .json, .parquet)")
        return [t for f in files for t in load_tasks(f, instance_ids=instance_ids)]
    elif "/" in str(path_or_name) and not str(path_or_name).startswith((".", "/")) and not path.suffix:
        rows = _read_hub(str(path_or_name))
        where = str(path_or_name)
    else:
        raise SweSrlError(f"{path}: no such file")
    tasks = [normalize_task(r, f"{where}:{i + 1}") for i, r in enumerate(rows)]
    seen: set[str] = set()
    for t in tasks:
        if t["instance_id"] in seen:
            raise SweSrlError(f"{where}: duplicate instance_id {t['instance_id']!r}")
        seen.add(t["instance_id"])
    if instance_ids is not None:
        wanted = set(instance_ids)
        tasks = [t for t in tasks if t["instance_id"] in wanted]
    return tasks


def mirror_name(repo: str) -> str:
    """``owner/name`` -> ``owner__name`` (SWE-bench's folder convention)."""
    return repo.replace("/", "__")


def resolve_repo_path(task: dict[str, Any], repos_dir: str | os.PathLike | None = None) -> Path:
    """Where the task's repository is: its ``repo_path`` (relative paths are
    taken from the current directory), else ``repos_dir/owner__name`` (or
    ``owner__name.git``). SweSrlError naming the places looked at otherwise."""
    looked: list[str] = []
    if task.get("repo_path"):
        p = Path(task["repo_path"]).expanduser()
        if p.exists():
            return p.resolve()
        looked.append(str(p))
    if repos_dir is not None:
        base = Path(repos_dir).expanduser()
        for name in (mirror_name(task["repo"]), mirror_name(task["repo"]) + ".git"):
            p = base / name
            if p.exists():
                return p.resolve()
            looked.append(str(p))
    if not looked:
        raise SweSrlError(f"{task['instance_id']}: no repo_path and no --repos-dir to find {task['repo']!r} in")
    raise SweSrlError(f"{task['instance_id']}: repository {task['repo']!r} not found (looked in {', '.join(looked)})")


def load_predictions(source: str, tasks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Predictions by instance id: a file (JSON list/object or JSONL, SWE-bench
    format), or ``gold`` (each task's ``patch``) or ``empty`` (no change)."""
    if source in ("gold", "empty"):
        return {
            t["instance_id"]: {
                "instance_id": t["instance_id"],
                "model_name_or_path": source,
                "model_patch": t.get("patch", "") if source == "gold" else "",
            }
            for t in tasks
        }
    path = Path(source)
    rows = read_records(path)
    if len(rows) == 1 and isinstance(rows[0], dict) and "instance_id" not in rows[0]:
        # {instance_id: prediction} mapping
        rows = [dict(v, instance_id=k) for k, v in rows[0].items()]
    out: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not isinstance(row.get("instance_id"), str):
            raise SweSrlError(f"{path}:{i}: a prediction needs an instance_id")
        if "model_patch" not in row:
            raise SweSrlError(f"{path}:{i}: prediction {row['instance_id']!r} has no model_patch")
        out[row["instance_id"]] = {
            "instance_id": row["instance_id"],
            "model_name_or_path": row.get("model_name_or_path") or path.stem,
            "model_patch": row["model_patch"],
        }
    return out
