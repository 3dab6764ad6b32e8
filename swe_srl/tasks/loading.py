"""Loading task instances (SWE-bench schema), predictions, and the repositories they name.

Tasks are read as SWE-bench distributes them: JSON (a list or one object), JSONL,
parquet, a Hugging Face dataset folder (``save_to_disk`` of a Dataset or a DatasetDict,
or the hub's layout of parquet files: ``data/<split>-00000-of-00001.parquet``,
``<split>.parquet``, ``<split>/*.parquet``), or a hub dataset name
(``princeton-nlp/SWE-bench_Verified``, ``NAME:SPLIT``) when a hub is reachable. Rows
may carry the current harness's ``image``, ``eval_script``, ``log_parser`` and
``eval_type`` or not. ``FAIL_TO_PASS`` / ``PASS_TO_PASS`` may be lists or
JSON-encoded strings (the published datasets store strings); they are always lists
afterwards.

Repositories (:func:`resolve_repo_path`): a task's ``repo_path``, else
``--repos-dir DIR`` holding ``DIR/<owner>__<name>`` (a clone or a bare mirror), else
a cache of bare mirrors (``~/.cache/swe-srl/repos/<owner>__<name>.git``), cloned once
from the public URL (``SWE_SRL_REPO_URL``, default ``https://github.com/{repo}.git``)
and fetched again only when a commit is missing.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable

from swe_srl.errors import SweSrlError
from swe_srl.git import GitError, git, git_ok
from swe_srl.io import read_records
from swe_srl.paths import cache_root

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


def _read_hub(name: str, split: str | None) -> list[dict[str, Any]]:
    import datasets

    dataset, _, named_split = name.partition(":")
    try:
        ds = datasets.load_dataset(dataset, split=named_split or split or DEFAULT_SPLIT)
    except Exception as e:  # the hub may be unreachable: one clear line
        raise SweSrlError(f"{name}: not a file, and loading it from the Hugging Face hub failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return [dict(r) for r in ds]


DEFAULT_SPLIT = "test"
KNOWN_SPLITS = ("test", "dev", "train", "validation", "val")
_DATA_SUFFIXES = (".parquet", ".jsonl", ".json")
_HF_METADATA = {"dataset_info.json", "state.json", "dataset_dict.json"}
_SHARD = re.compile(r"^(?P<split>[A-Za-z0-9_.]+?)(?:-\d{5}-of-\d{5})?$")


def _pick_split(available: Iterable[str], split: str | None, where: Path) -> str:
    available = sorted(set(available))
    if split is not None:
        if split not in available:
            raise SweSrlError(f"{where}: no split {split!r} (splits: {', '.join(available)})")
        return split
    if DEFAULT_SPLIT in available:
        return DEFAULT_SPLIT
    if len(available) == 1:
        return available[0]
    raise SweSrlError(f"{where}: several splits ({', '.join(available)}); choose one with --split")


def _read_arrow_folder(path: Path, split: str | None) -> list[dict[str, Any]]:
    """A ``save_to_disk`` folder (Dataset or DatasetDict)."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as e:  # a damaged folder: one line
        raise SweSrlError(f"{path}: not a readable save_to_disk folder ({type(e).__name__}: {str(e)[:200]})") from None
    if isinstance(loaded, datasets.DatasetDict):
        loaded = loaded[_pick_split(loaded.keys(), split, path)]
    return [dict(r) for r in loaded]


def _split_of(file: Path, root: Path) -> str | None:
    """The split a hub-layout file holds (``data/test-00000-of-00001.parquet``, ``dev.jsonl``,
    ``test/part.parquet``), or None for a file that names no split."""
    m = _SHARD.match(file.name[: -len(file.suffix)] if file.suffix else file.name)
    if m and m.group("split") in KNOWN_SPLITS:
        return m.group("split")
    if file.parent != root and file.parent.name in KNOWN_SPLITS:
        return file.parent.name
    return None


def _read_file(path: Path) -> list[Any]:
    return _read_parquet(path) if path.suffix == ".parquet" else read_records(path)


def _read_folder(path: Path, split: str | None) -> list[tuple[str, list[Any]]]:
    """(where, rows) per file of a dataset folder."""
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        return [(str(path), _read_arrow_folder(path, split))]
    files = sorted(f for f in [*path.glob("*"), *path.glob("*/*")]
                   if f.is_file() and f.suffix in _DATA_SUFFIXES and f.name not in _HF_METADATA)
    if not files:
        split_dirs = [d for d in path.iterdir() if d.is_dir() and (d / "dataset_info.json").is_file()]
        if split_dirs:  # save_to_disk folders per split without dataset_dict.json
            chosen = _pick_split([d.name for d in split_dirs], split, path)
            return [(str(path / chosen), _read_arrow_folder(path / chosen, None))]
        raise SweSrlError(f"{path}: a directory without task files (.jsonl, .json, .parquet) or a saved dataset")
    by_split: dict[str, list[Path]] = {}
    for f in files:
        s = _split_of(f, path)
        if s is not None:
            by_split.setdefault(s, []).append(f)
    if by_split:
        files = by_split[_pick_split(by_split, split, path)]
    elif split is not None:
        raise SweSrlError(f"{path}: no split {split!r} (no file is named after a split)")
    else:
        files = [f for f in files if f.parent == path]
    return [(str(f), _read_file(f)) for f in files]


def load_tasks(path_or_name: str | os.PathLike, *, instance_ids: Iterable[str] | None = None,
               split: str | None = None, strict_ids: bool = False) -> list[dict[str, Any]]:
    """Task instances from a file (JSON, JSONL, parquet), a dataset folder (``save_to_disk`` or
    the hub's parquet layout; ``split`` picks one, default ``test`` or the only one), or a hub
    dataset name. ``instance_ids`` keeps those ids only; with ``strict_ids`` an id that is not
    in the dataset is an error (as in SWE-bench's harness)."""
    path = Path(path_or_name)
    if path.is_file():
        parts = [(str(path), _read_file(path))]
    elif path.is_dir():
        parts = _read_folder(path, split)
    elif "/" in str(path_or_name) and not str(path_or_name).startswith((".", "/")) and not path.suffix:
        parts = [(str(path_or_name), _read_hub(str(path_or_name), split))]
    else:
        raise SweSrlError(f"{path}: no such file")
    tasks = [normalize_task(r, f"{where}:{i + 1}") for where, rows in parts for i, r in enumerate(rows)]
    seen: set[str] = set()
    for t in tasks:
        if t["instance_id"] in seen:
            raise SweSrlError(f"{path}: duplicate instance_id {t['instance_id']!r}")
        seen.add(t["instance_id"])
    if instance_ids is not None:
        wanted = list(dict.fromkeys(instance_ids))
        if strict_ids:
            missing = [i for i in wanted if i not in seen]
            if missing:
                more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                raise SweSrlError(f"{path}: instance id(s) not in the dataset: {', '.join(missing[:5])}{more}")
        keep = set(wanted)
        tasks = [t for t in tasks if t["instance_id"] in keep]
    return tasks


def read_id_filter(path: str | os.PathLike) -> list[str]:
    """Instance ids from a filter file: one per line (``#`` comments), a JSON list, or a
    ``swe-srl tasks validate`` output (``validation.json``: its ``valid_ids``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SweSrlError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise SweSrlError(f"{path}: not a text file of instance ids") from None
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SweSrlError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None
        if isinstance(data, dict):
            if not isinstance(data.get("valid_ids"), list):
                raise SweSrlError(f"{path}: a JSON object without valid_ids (expected a validation.json)")
            data = data["valid_ids"]
        if not all(isinstance(x, str) for x in data):
            raise SweSrlError(f"{path}: expected a list of instance ids")
        return list(data)
    ids = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return [i for i in ids if i]


def mirror_name(repo: str) -> str:
    """``owner/name`` -> ``owner__name`` (SWE-bench's folder convention)."""
    return repo.replace("/", "__")


REPO_URL_ENV = "SWE_SRL_REPO_URL"
DEFAULT_REPO_URL = "https://github.com/{repo}.git"
_mirror_lock = threading.Lock()
_mirrors_checked: set[tuple[str, str]] = set()


def repo_mirror_cache() -> Path:
    """Where bare mirrors cloned from public URLs are kept (one per repository)."""
    return cache_root() / "repos"


_NETWORK_TIMEOUT = 1800.0  # seconds a clone or fetch of a mirror may take


def _has_commit(repo: Path, commit: str) -> bool:
    return git_ok(["cat-file", "-e", f"{commit}^{{commit}}"], cwd=repo)


def _cached_mirror(task: dict[str, Any], how_to: str) -> Path:
    """The bare mirror of the task's repository in the cache: cloned once from the public URL,
    fetched again when the base commit is missing. SweSrlError (one line) when offline."""
    from swe_srl.sandbox.images import file_lock

    repo, commit = task["repo"], task.get("base_commit") or "HEAD"
    slug = mirror_name(repo)
    url = os.environ.get(REPO_URL_ENV, DEFAULT_REPO_URL).format(repo=repo, slug=slug)
    dest = repo_mirror_cache() / f"{slug}.git"
    with _mirror_lock:
        if (str(dest), commit) in _mirrors_checked:
            return dest
    with file_lock(f"mirror-{slug}"):
        if dest.is_dir() and _has_commit(dest, commit):
            pass
        elif dest.is_dir():
            try:
                git(["fetch", "-q", "--prune", "origin"], cwd=dest, timeout=_NETWORK_TIMEOUT)
                failure = None if _has_commit(dest, commit) else "commit still missing"
            except GitError as e:
                failure = e.last_line
            if failure:
                raise SweSrlError(f"{task['instance_id']}: {repo}: commit {commit[:12]} is not in the cached mirror "
                                  f"{dest} and fetching {url} failed ({failure[:160]}); {how_to}")
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{slug}-") as tmp:
                try:
                    git(["clone", "-q", "--mirror", url, str(Path(tmp) / "m.git")], timeout=_NETWORK_TIMEOUT)
                except GitError as e:
                    raise SweSrlError(f"{task['instance_id']}: repository {repo} is not available offline: "
                                      f"cloning {url} failed ({e.last_line[:160]}); {how_to}") from None
                os.replace(Path(tmp) / "m.git", dest)
            if not _has_commit(dest, commit):
                raise SweSrlError(f"{task['instance_id']}: {repo}: commit {commit[:12]} is not in {url}")
    with _mirror_lock:
        _mirrors_checked.add((str(dest), commit))
    return dest


def resolve_repo_path(task: dict[str, Any], repos_dir: str | os.PathLike | None = None, *,
                      fetch: bool = True) -> Path:
    """Where the task's repository is: its ``repo_path`` (relative paths are taken from the
    current directory), else ``repos_dir/owner__name`` (or ``owner__name.git``), else the
    cache of bare mirrors (cloned from the public URL when ``fetch``). SweSrlError in one line,
    naming the repository and how to provide it, otherwise."""
    looked: list[str] = []
    if task.get("repo_path"):
        p = Path(task["repo_path"]).expanduser()
        if p.exists():
            return p.resolve()
        looked.append(str(p))
    slug = mirror_name(task["repo"])
    if repos_dir is not None:
        base = Path(repos_dir).expanduser()
        for name in (slug, slug + ".git"):
            p = base / name
            if p.exists():
                return p.resolve()
            looked.append(str(p))
    how_to = (f"give --repos-dir DIR with DIR/{slug} (a clone or a bare mirror: "
              f"`git clone --mirror <url or bundle> DIR/{slug}`)")
    if looked:
        how_to = f"not found in {', '.join(looked)}; " + how_to
    cached = repo_mirror_cache() / f"{slug}.git"
    if not fetch and not cached.is_dir():
        raise SweSrlError(f"{task['instance_id']}: repository {task['repo']!r} not found; {how_to}")
    return _cached_mirror(task, how_to)


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
