"""Find what a run directory holds, without assuming its layout.

:func:`discover` walks ``RUN_DIR`` (bounded depth, hidden folders and
checkpoints skipped) and recognises each stage's outputs by their files and
keys, not by folder names:

- dataset: ``stats.json`` (``swe-srl dataset``);
- conversion: ``report.json`` with ``trajectories`` and ``files``/``formats``
  (``swe-srl convert``);
- training: ``metrics.jsonl`` (one JSON object per logged step), else a
  ``trainer_state.json`` with ``log_history``; plus ``plots/*.png``;
- agent run: ``summary.json`` and/or ``predictions.jsonl`` (``swe-srl run``);
- evaluation: a run report (``report.json`` with SWE-bench's run-report keys)
  next to per-instance folders ``<instance_id>/{patch.diff, test_output.txt,
  report.json}`` (``swe-srl eval``);
- step scores: ``score*.json`` anywhere, or any ``*.json`` in a ``scores/``
  folder, holding ``swe-srl score``'s format tag or its headline keys.

Every file is read defensively: a file that cannot be read or parsed becomes a
note on the page, never an exception.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swe_srl.errors import SweSrlError
from swe_srl.formats import CONVERT_REPORT, EVAL_RUN, RUN_SUMMARY, by_tag

# How deep below RUN_DIR to look, and how many folders at most.
MAX_DEPTH = 6
MAX_DIRS = 20_000
# Files bigger than this are not parsed (a note says so).
MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_PNG_BYTES = 8 * 1024 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

SKIP_DIR_NAMES = {"__pycache__", "node_modules", "wandb", "runs_tensorboard"}
RUN_REPORT_KEYS = ("resolved_ids", "resolved_instances")


@dataclass
class DatasetOut:
    path: Path
    stats: dict[str, Any]
    splits: list[str] = field(default_factory=list)


@dataclass
class ConvertOut:
    path: Path
    report: dict[str, Any]


@dataclass
class TrainingOut:
    path: Path
    records: list[dict[str, Any]]
    source: str  # file the records came from (metrics.jsonl or trainer_state.json)
    bad_lines: int = 0
    plots: list[tuple[str, bytes]] = field(default_factory=list)  # (relative name, PNG bytes)
    config: dict[str, Any] | None = None
    config_text: str | None = None  # config.yaml as written by the trainer
    summary: dict[str, Any] | None = None  # summary.json next to the metrics


@dataclass
class AgentRunOut:
    path: Path
    summary: dict[str, Any] | None
    predictions: list[dict[str, Any]]
    predictions_file: Path | None
    bad_lines: int = 0


@dataclass
class InstanceResult:
    instance_id: str
    status: str  # resolved | unresolved | empty_patch | error | incomplete
    folder: Path | None
    verdict: dict[str, Any] | None = None


@dataclass
class EvalOut:
    path: Path
    report_file: Path
    report: dict[str, Any]
    instances: list[InstanceResult]
    task_set: str | None = None
    policy: str | None = None


@dataclass
class ScoreOut:
    path: Path
    data: dict[str, Any]  # the score file (``swe-srl score``)

    @property
    def label(self) -> str:
        label = self.data.get("label")
        return str(label) if label not in (None, "") else self.path.stem


@dataclass
class RunContents:
    root: Path
    datasets: list[DatasetOut] = field(default_factory=list)
    converts: list[ConvertOut] = field(default_factory=list)
    trainings: list[TrainingOut] = field(default_factory=list)
    agent_runs: list[AgentRunOut] = field(default_factory=list)
    evals: list[EvalOut] = field(default_factory=list)
    scores: list[ScoreOut] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # unreadable files, limits hit

    def empty(self) -> bool:
        return not (self.datasets or self.converts or self.trainings or self.agent_runs or self.evals or self.scores)

    def rel(self, path: Path) -> str:
        """``path`` relative to RUN_DIR for display (``.`` for RUN_DIR itself)."""
        try:
            return str(path.relative_to(self.root)) or "."
        except ValueError:
            return str(path)


def _read_json(path: Path, notes: list[str], root: Path) -> Any:
    """Parse a JSON file (NaN/Infinity accepted); ``None`` plus a note on failure."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            notes.append(f"{_shown(path, root)}: {size / 1e6:.0f} MB, too big to read")
            return None
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError) as e:
        notes.append(f"{_shown(path, root)}: unreadable ({type(e).__name__}: {str(e)[:120]})")
        return None


def _read_jsonl(path: Path, notes: list[str], root: Path) -> tuple[list[dict[str, Any]], int]:
    """Objects of a JSONL file; malformed lines (and non-objects) are counted, not fatal."""
    rows: list[dict[str, Any]] = []
    bad = 0
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            notes.append(f"{_shown(path, root)}: too big to read")
            return rows, 0
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if isinstance(value, dict):
                    rows.append(value)
                else:
                    bad += 1
    except OSError as e:
        notes.append(f"{_shown(path, root)}: unreadable ({e.strerror or e})")
    if bad:
        notes.append(f"{_shown(path, root)}: {bad} malformed line(s) skipped")
    return rows, bad


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def is_run_report(obj: Any) -> bool:
    """An evaluation's run report: ``swe-srl eval``'s (by its format tag), or an untagged
    one with SWE-bench's run-report keys (SWE-bench's own harness writes those)."""
    if EVAL_RUN.matches(obj):
        return True
    return isinstance(obj, dict) and by_tag(obj) is None and any(k in obj for k in RUN_REPORT_KEYS)


def is_run_summary(obj: Any) -> bool:
    """``swe-srl run``'s summary.json (by its format tag, else by its keys)."""
    if not isinstance(obj, dict):
        return False
    if RUN_SUMMARY.matches(obj):
        return True
    return by_tag(obj) is None and sum(k in obj for k in ("total_tasks", "exit_reasons", "submitted", "nonempty_patches", "mean_steps")) >= 2


def is_convert_report(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    if CONVERT_REPORT.matches(obj):
        return True
    return by_tag(obj) is None and "trajectories" in obj and ("files" in obj or "formats" in obj or "steps" in obj) and not is_run_report(obj)


SCORE_KEYS = ("samples", "format_valid_rate", "mean_similarity")


def is_score(obj: Any) -> bool:
    """``swe-srl score``'s output (by its format tag, else by its headline keys)."""
    if not isinstance(obj, dict):
        return False
    if str(obj.get("format", "")).startswith("swe-srl.score"):
        return True
    return all(k in obj for k in SCORE_KEYS)


def _is_score_name(folder: Path, name: str) -> bool:
    return name.endswith(".json") and (name.lower().startswith("score") or folder.name == "scores")


def _looks_like_instance_report(obj: Any) -> bool:
    """``{instance_id: {resolved: ..., ...}}``: one instance's verdict."""
    return (
        isinstance(obj, dict)
        and len(obj) == 1
        and isinstance(next(iter(obj.values())), dict)
        and "resolved" in next(iter(obj.values()))
    )


def discover(run_dir: str | os.PathLike, *, max_depth: int = MAX_DEPTH) -> RunContents:
    """Walk ``run_dir`` and collect every stage output it recognises."""
    root = Path(run_dir)
    if not root.exists():
        raise SweSrlError(f"{root}: no such directory")
    if not root.is_dir():
        raise SweSrlError(f"{root}: not a directory")
    root = root.resolve()
    found = RunContents(root=root)
    notes = found.notes
    visited = 0
    consumed: set[Path] = set()  # instance folders already read as part of an eval run

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        visited += 1
        if visited > MAX_DIRS:
            notes.append(f"stopped looking after {MAX_DIRS} folders")
            break
        depth = len(here.relative_to(root).parts)
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".")
            and d not in SKIP_DIR_NAMES
            and not d.startswith("checkpoint-")
            and depth < max_depth
            and here / d not in consumed
        )
        files = set(filenames)

        if "stats.json" in files:
            stats = _read_json(here / "stats.json", notes, root)
            if isinstance(stats, dict):
                splits = [d for d in dirnames if (here / d / "dataset_info.json").is_file()]
                found.datasets.append(DatasetOut(here, stats, splits))

        report = None
        if "report.json" in files:
            report = _read_json(here / "report.json", notes, root)
            if is_convert_report(report):
                found.converts.append(ConvertOut(here, report))

        run_report_file = None
        if is_run_report(report):
            run_report_file = here / "report.json"
        else:
            # SWE-bench's own name for the run report: <model>.<run_id>.json
            for name in sorted(files):
                if name.endswith(".json") and name.count(".") >= 2 and name != "report.json":
                    obj = _read_json(here / name, notes, root)
                    if is_run_report(obj):
                        run_report_file, report = here / name, obj
                        break
        if run_report_file is not None:
            ev = _read_eval(here, run_report_file, report, notes, root)
            found.evals.append(ev)
            consumed.update(i.folder for i in ev.instances if i.folder is not None)
            dirnames[:] = [d for d in dirnames if here / d not in consumed]

        for name in sorted(files):
            if _is_score_name(here, name) and name != "report.json":
                obj = _read_json(here / name, notes, root)
                if is_score(obj):
                    found.scores.append(ScoreOut(here / name, obj))

        if "metrics.jsonl" in files:
            records, bad = _read_jsonl(here / "metrics.jsonl", notes, root)
            found.trainings.append(_training(here, records, "metrics.jsonl", bad, notes, root))
        elif "trainer_state.json" in files:
            state = _read_json(here / "trainer_state.json", notes, root)
            history = state.get("log_history") if isinstance(state, dict) else None
            if isinstance(history, list):
                records = [r for r in history if isinstance(r, dict)]
                found.trainings.append(_training(here, records, "trainer_state.json", 0, notes, root))

        is_training = "metrics.jsonl" in files or "trainer_state.json" in files
        if is_training and "summary.json" in files and found.trainings and found.trainings[-1].path == here:
            summary = _read_json(here / "summary.json", notes, root)
            if isinstance(summary, dict):
                found.trainings[-1].summary = summary
        elif "summary.json" in files or "predictions.jsonl" in files:
            summary = _read_json(here / "summary.json", notes, root) if "summary.json" in files else None
            if not is_run_summary(summary):
                summary = None  # some other tool's summary.json
            preds: list[dict[str, Any]] = []
            bad = 0
            pfile = None
            if "predictions.jsonl" in files:
                pfile = here / "predictions.jsonl"
                preds, bad = _read_jsonl(pfile, notes, root)
            if isinstance(summary, dict) or pfile is not None:
                found.agent_runs.append(
                    AgentRunOut(here, summary if isinstance(summary, dict) else None, preds, pfile, bad)
                )

    _label_evals(found)
    return found


def _training(here: Path, records: list[dict[str, Any]], source: str, bad: int, notes: list[str], root: Path) -> TrainingOut:
    plots: list[tuple[str, bytes]] = []
    plot_dir = here / "plots"
    if plot_dir.is_dir():
        for png in sorted(plot_dir.glob("*.png")):
            try:
                if png.stat().st_size > MAX_PNG_BYTES:
                    notes.append(f"{_shown(png, root)}: too big to embed")
                    continue
                data = png.read_bytes()
            except OSError as e:
                notes.append(f"{_shown(png, root)}: unreadable ({e.strerror or e})")
                continue
            if not data.startswith(PNG_MAGIC):
                notes.append(f"{_shown(png, root)}: not a PNG file, not embedded")
                continue
            plots.append((f"plots/{png.name}", data))
    config = None
    for name in ("config.json", "train_config.json", "resolved_config.json"):
        if (here / name).is_file():
            obj = _read_json(here / name, notes, root)
            if isinstance(obj, dict):
                config = obj
                break
    config_text = None
    for name in ("config.yaml", "config.yml"):
        if (here / name).is_file():
            try:
                config_text = (here / name).read_text(encoding="utf-8", errors="replace")[:50_000]
            except OSError as e:
                notes.append(f"{_shown(here / name, root)}: unreadable ({e.strerror or e})")
            break
    return TrainingOut(here, records, source, bad, plots, config, config_text)


def _ids(report: dict[str, Any], key: str) -> list[str]:
    value = report.get(key)
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value]
    return []


def _read_eval(here: Path, report_file: Path, report: dict[str, Any], notes: list[str], root: Path) -> EvalOut:
    """A run report plus its per-instance folders."""
    status: dict[str, str] = {}
    # Later keys win: an id listed as both completed and resolved is resolved.
    for key, label in (
        ("incomplete_ids", "incomplete"),
        ("completed_ids", "unresolved"),
        ("submitted_ids", "incomplete"),
        ("unresolved_ids", "unresolved"),
        ("empty_patch_ids", "empty_patch"),
        ("error_ids", "error"),
        ("resolved_ids", "resolved"),
    ):
        for iid in _ids(report, key):
            if key == "submitted_ids" and iid in status:
                continue
            status[iid] = label
    instances: list[InstanceResult] = []
    seen: set[str] = set()
    # Folders next to the run report that hold an instance's outputs.
    folders: dict[str, Path] = {}
    try:
        children = sorted(p for p in here.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        children = []
    for child in children:
        if any((child / n).is_file() for n in ("report.json", "patch.diff", "test_output.txt")):
            folders[child.name] = child
    for iid in list(status) + [n for n in folders if n not in status]:
        if iid in seen:
            continue
        seen.add(iid)
        folder = folders.get(iid)
        verdict = None
        if folder is not None and (folder / "report.json").is_file():
            obj = _read_json(folder / "report.json", notes, root)
            if isinstance(obj, dict):
                inner = obj.get(iid)
                if isinstance(inner, dict):
                    verdict = inner
                elif _looks_like_instance_report(obj):
                    verdict = next(iter(obj.values()))
                elif "resolved" in obj:
                    verdict = obj
        st = status.get(iid)
        if st is None:
            if verdict is not None:
                st = "resolved" if verdict.get("resolved") is True else "unresolved"
            else:
                st = "incomplete"
        instances.append(InstanceResult(iid, st, folder, verdict))
    instances.sort(key=lambda i: i.instance_id)
    return EvalOut(here, report_file, report, instances)


def _name_from(value: Any) -> str | None:
    """A short label from a path-like or name-like value."""
    if value is None or isinstance(value, (dict, list)):
        return None
    s = str(value).strip()
    if not s:
        return None
    scheme, sep, rest = s.partition(":")
    if sep and re.fullmatch(r"[a-z][a-z0-9+-]*", scheme) and rest and not rest.startswith("//"):
        # a policy spec such as hf:out/train/srl or replay:traj.jsonl
        return f"{scheme}:{_name_from(rest) or rest}"
    if "/" in s or s.endswith((".jsonl", ".json")):
        p = Path(s.rstrip("/"))
        name = p.stem if p.suffix in (".jsonl", ".json") else p.name
        if name in ("tasks", "predictions", "preds") and p.parent.name:
            name = p.parent.name
        return name or s
    return s


def _first(d: dict[str, Any] | None, keys: tuple[str, ...]) -> Any:
    if not isinstance(d, dict):
        return None
    for k in keys:
        if d.get(k) not in (None, ""):
            return d[k]
    # provenance records: `swe-srl run` keeps its options under "config"
    for sub in ("config", "command", "args"):
        inner = d.get(sub)
        if isinstance(inner, dict):
            for k in keys:
                if inner.get(k) not in (None, ""):
                    return inner[k]
    return None


def _task_set_from_ids(ids: list[str]) -> str | None:
    """SWE-bench ids are ``owner__repo-N``: one repository names the task set."""
    repos = {i.rsplit("-", 1)[0] for i in ids if "__" in i and "-" in i}
    if len(repos) == 1 and len(ids) == sum(1 for i in ids if "__" in i and "-" in i):
        return repos.pop()
    return None


TASK_SET_KEYS = ("task_set", "tasks_name", "dataset_name", "dataset", "tasks")
POLICY_KEYS = ("policy", "model_name_or_path", "model", "predictions", "predictions_path")


def agent_run_labels(run: AgentRunOut) -> tuple[str | None, str | None]:
    """(task set, policy) of an agent run from its summary or predictions."""
    task_set = _name_from(_first(run.summary, TASK_SET_KEYS))
    policy = _name_from(_first(run.summary, ("policy", "model_name_or_path", "model")))
    if policy is None and run.predictions:
        names = {str(p.get("model_name_or_path")) for p in run.predictions if p.get("model_name_or_path")}
        if len(names) == 1:
            policy = names.pop()
    mode = _first(run.summary, ("mode",))
    if policy and isinstance(mode, str) and mode not in ("agent", ""):
        policy = f"{policy} ({mode})"
    if task_set is None and run.predictions:
        task_set = _task_set_from_ids([str(p.get("instance_id", "")) for p in run.predictions])
    return task_set, policy


def _label_evals(found: RunContents) -> None:
    """Task set and policy of each eval run: its own report first, then the agent
    run whose predictions it graded, then folder names."""
    by_predictions: dict[Path, AgentRunOut] = {}
    for run in found.agent_runs:
        if run.predictions_file is not None:
            by_predictions[run.predictions_file.resolve()] = run
    for ev in found.evals:
        rep = ev.report
        task_set = _name_from(_first(rep, TASK_SET_KEYS))
        preds = _first(rep, ("predictions", "predictions_path"))
        policy = _name_from(_first(rep, ("policy", "model_name_or_path", "model")))
        if isinstance(preds, str) and preds not in ("gold", "empty"):
            # a relative path was relative to where `swe-srl eval` ran: try the
            # current folder, then the eval folder and each parent up to RUN_DIR
            bases = [Path.cwd(), ev.path, *[p for p in ev.path.parents if p == found.root or found.root in p.parents]]
            for base in bases:
                p = (base / preds).resolve() if not Path(preds).is_absolute() else Path(preds)
                run = by_predictions.get(p)
                if run is not None:
                    ts, pol = agent_run_labels(run)
                    task_set = task_set or ts
                    policy = policy or pol
                    break
        if policy is None and isinstance(preds, str):
            policy = _name_from(preds)
        if task_set is None:
            task_set = _task_set_from_ids([i.instance_id for i in ev.instances])
        ev.task_set = task_set
        ev.policy = policy or _name_from(rep.get("run_id")) or ev.path.name
