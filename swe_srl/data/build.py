"""Canonical trajectories -> step-wise SRL / SFT datasets (``swe-srl dataset``).

Design choices:

* One row per expert step. The prompt is :func:`swe_srl.data.prompts.fit_prompt`
  over the steps before it, under the dataset's :class:`~swe_srl.data.prompts.PromptConfig`
  (the agent builds its prompts with the same function and, by default, the
  PromptConfig recorded in ``stats.json``); ``expert_action`` is the step's
  canonical rendering. SFT rows carry the same prompt and the expert's
  ``<think>thought</think>`` + action as a conversational completion (TRL's
  prompt-completion form).
* Steps whose observation is a format error (``Step.meta["format_error"]``)
  are not expert actions: by default they are dropped both as targets and from
  the context shown to later steps.
* Token budget (``max_prompt_tokens`` with a tokenizer): the prompt is counted
  with the tokenizer's chat template (with the generation prompt); when it is
  over, it is cut in the PromptConfig's truncation order (by default the
  oldest rounds go first, down to the most recent one, then the observations
  shrink, halving their cap, then the last round goes, then the task text is
  cut head-and-tail). Each row records what was cut in its ``truncation``
  column; a row still over budget after all that is dropped and counted.
* Identical (prompt, action) rows are kept once (first occurrence).
* The train/validation split is by trajectory, never by step: the ids of the
  trajectories that produced rows are shuffled with ``random.Random(seed)``
  and the first ``round(val_fraction * n)`` (at least one when there are two
  or more) go to validation, so a trajectory is never in both splits and the
  same inputs and seed give the same split.
* Rows are streamed to a temporary JSONL file (memory stays flat in the
  number of rows), then loaded split by split with ``datasets``; everything is
  built in a temporary sibling directory and renamed over ``out`` at the end.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import shutil
import tempfile
import typing
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

from pydantic import Field

from swe_srl import __version__
from swe_srl.config import Config
from swe_srl.data.prompts import PromptConfig, fit_prompt, format_completion
from swe_srl.errors import SweSrlError
from swe_srl.formats import DATASET_STATS
from swe_srl.io import dumps, iter_jsonl, loads, write_json
from swe_srl.trajectories.models import CANONICAL_TOOLS, Step, Trajectory

DATASET_FORMAT_TAG = DATASET_STATS.tag
DatasetKind = Literal["srl", "sft"]
DATASET_KINDS = typing.get_args(DatasetKind)
SPLITS = ("train", "validation")


class DatasetConfig(Config):
    """Options of ``swe-srl dataset`` (recorded in stats.json)."""

    kind: DatasetKind = Field("srl", description="``srl`` (prompt + expert_action) or ``sft`` (prompt + completion).")
    prompt: PromptConfig = Field(
        default_factory=PromptConfig,
        description="The prompt's settings (rounds shown, observation cap, token budget: see PromptConfig); "
                    "recorded in stats.json.")
    tokenizer: str | None = Field(None, description="A local Hugging Face tokenizer directory (with a chat template).")
    only_resolved: bool = Field(False, description="Keep only trajectories whose outcome is ``resolved``.")
    only_submitted: bool = Field(
        False, description="Keep only trajectories that submitted (a patch or a submit action).")
    drop_format_errors: bool = Field(
        True, description="Drop steps whose observation is a format error (targets and context).")
    only_canonical_tools: bool = Field(False, description="Keep only targets using bash / str_replace_editor / submit.")
    dedupe: bool = Field(True, description="Keep identical (prompt, action) rows once.")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="Fraction of trajectories in the validation split.")
    seed: int = Field(0, description="Seed of the split.")

    def to_dict(self) -> dict[str, Any]:
        """The options for stats.json ``config`` (the prompt's go to ``prompt_config``)."""
        return self.model_dump(mode="json", exclude={"prompt"})


@dataclass
class Filters:
    """What was read and what was dropped, by reason (stats.json ``filters``)."""

    lines_read: int = 0
    bad_lines: int = 0
    trajectories_read: int = 0
    not_resolved: int = 0
    not_submitted: int = 0
    no_steps: int = 0
    steps_read: int = 0
    format_error_steps: int = 0
    non_canonical_tool_steps: int = 0
    over_token_budget: int = 0
    duplicates: int = 0
    bad_line_reasons: list[str] = field(default_factory=list)


class TokenCounter:
    """Counts prompt tokens with a tokenizer's chat template (generation prompt included)."""

    def __init__(self, path: str | os.PathLike):
        try:
            from transformers import AutoTokenizer
        except ImportError as e:  # pragma: no cover - transformers is a dependency
            raise SweSrlError(f"--tokenizer needs transformers ({e})") from None
        p = Path(path)
        if not p.exists():
            raise SweSrlError(f"{p}: tokenizer directory not found")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(p))
        except Exception as e:  # transformers raises many types for a bad directory
            raise SweSrlError(f"{p}: cannot load a tokenizer ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
        if not getattr(self.tokenizer, "chat_template", None):
            raise SweSrlError(f"{p}: the tokenizer has no chat template")

    def __call__(self, messages: list[dict[str, Any]]) -> int:
        """Exact: the prompt rendered with the chat template, tokenized."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])


def _row_key(prompt: list[dict[str, Any]], action: str) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for m in prompt:
        h.update(m["role"].encode())
        h.update(b"\0")
        h.update(m["content"].encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    h.update(b"\1")
    h.update(action.encode("utf-8", "surrogatepass"))
    return h.digest()


def iter_trajectories(path: Path, filters: Filters) -> Iterator[Trajectory]:
    """Canonical trajectories from a JSONL file; bad lines are counted and skipped."""
    if not path.is_file():
        raise SweSrlError(f"{path}: no such file")
    for lineno, rec in iter_jsonl(path, strict=False):
        filters.lines_read += 1
        if isinstance(rec, SweSrlError):
            filters.bad_lines += 1
            if len(filters.bad_line_reasons) < 100:
                filters.bad_line_reasons.append(f"{path}:{lineno}: invalid JSON")
            continue
        try:
            if not isinstance(rec, dict):
                raise SweSrlError("not a JSON object")
            traj = Trajectory.from_dict(rec)
        except SweSrlError as e:
            filters.bad_lines += 1
            if len(filters.bad_line_reasons) < 100:
                filters.bad_line_reasons.append(f"{path}:{lineno}: {e}")
            continue
        yield traj


def _is_format_error(step: Step) -> bool:
    return bool(step.meta.get("format_error"))


def iter_rows(
    trajectories: Iterator[Trajectory],
    cfg: DatasetConfig,
    filters: Filters,
    count: Callable[[list[dict[str, Any]]], int] | None = None,
) -> Iterator[dict[str, Any]]:
    """Step-wise rows (before the split), applying every filter."""
    seen: set[bytes] = set()
    for traj in trajectories:
        filters.trajectories_read += 1
        if cfg.only_resolved and traj.outcome != "resolved":
            filters.not_resolved += 1
            continue
        if cfg.only_submitted and not traj.submitted:
            filters.not_submitted += 1
            continue
        steps = traj.steps
        filters.steps_read += len(steps)
        if cfg.drop_format_errors:
            kept = [s for s in steps if not _is_format_error(s)]
            filters.format_error_steps += len(steps) - len(kept)
            steps = kept
        if not steps:
            filters.no_steps += 1
            continue
        num_steps = len(steps)
        for i, step in enumerate(steps):
            tool = step.action.tool
            if cfg.only_canonical_tools and tool not in CANONICAL_TOOLS:
                filters.non_canonical_tool_steps += 1
                continue
            fitted = fit_prompt(traj.problem_statement, steps[:i], cfg.prompt, count)
            if not fitted.fits:
                filters.over_token_budget += 1
                continue
            action = step.action.render()
            if cfg.dedupe:
                key = _row_key(fitted.prompt, action)
                if key in seen:
                    filters.duplicates += 1
                    continue
                seen.add(key)
            row: dict[str, Any] = {"prompt": fitted.prompt}
            if cfg.kind == "srl":
                row["expert_action"] = action
                row["expert_thought"] = step.thought
            else:
                row["completion"] = [{"role": "assistant", "content": format_completion(step.thought, action)}]
            row.update(
                trajectory_id=traj.id,
                instance_id=traj.instance_id or "",
                step_index=i,
                num_steps=num_steps,
                tool=tool,
                truncation=fitted.truncation,
            )
            if count is not None:
                row["prompt_tokens"] = fitted.tokens
            yield row


def features(kind: str, with_tokens: bool) -> Any:
    from datasets import Features, List, Value

    message = {"role": Value("string"), "content": Value("string")}
    cols: dict[str, Any] = {"prompt": List(message)}
    if kind == "srl":
        cols["expert_action"] = Value("string")
        cols["expert_thought"] = Value("string")
    else:
        cols["completion"] = List(message)
    cols.update(
        trajectory_id=Value("string"),
        instance_id=Value("string"),
        step_index=Value("int32"),
        num_steps=Value("int32"),
        tool=Value("string"),
        truncation={
            "rounds_shown": Value("int32"),
            "rounds_dropped": Value("int32"),
            "observation_chars": Value("int32"),
            "observations_cut": Value("int32"),
            "problem_chars": Value("int32"),
        },
    )
    if with_tokens:
        cols["prompt_tokens"] = Value("int32")
    return Features(cols)


def split_trajectories(ids: Sequence[str], val_fraction: float, seed: int) -> set[str]:
    """The trajectory ids that go to validation (seeded; see the module docstring)."""
    unique = sorted(set(ids))
    n = len(unique)
    if n < 2 or val_fraction <= 0:
        return set()
    n_val = min(n - 1, max(1, round(val_fraction * n)))
    rng = random.Random(seed)
    rng.shuffle(unique)
    return set(unique[:n_val])


def _percentiles(values: list[int | None]) -> dict[str, float]:
    """min/p50/p90/p95/p99/max/mean of the counted values (None: not counted, e.g.
    a tokenizer given without a token budget); {} when nothing was counted."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return {}

    def pct(p: float) -> float:
        idx = min(len(v) - 1, max(0, math.ceil(p / 100 * len(v)) - 1))
        return float(v[idx])

    return {"min": float(v[0]), "p50": pct(50), "p90": pct(90), "p95": pct(95), "p99": pct(99), "max": float(v[-1]),
            "mean": round(sum(v) / len(v), 1)}


def _prompt_chars(prompt: list[dict[str, Any]]) -> int:
    return sum(len(m["content"]) for m in prompt)


def build_dataset(
    trajectories_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    cfg: DatasetConfig | None = None,
    *,
    command: dict[str, Any] | None = None,
    on_row: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Build the dataset; returns the stats (also written to ``out/stats.json``)."""
    cfg = cfg or DatasetConfig()
    if cfg.prompt.max_prompt_tokens is not None and not cfg.tokenizer:
        raise SweSrlError("--max-prompt-tokens needs --tokenizer PATH (a local tokenizer directory)")
    src = Path(trajectories_path)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SweSrlError(f"{out}: exists and is not a directory")
    count = TokenCounter(cfg.tokenizer) if cfg.tokenizer else None
    filters = Filters()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        rows_path = tmp / "rows.jsonl"
        chars: list[int] = []
        tokens: list[int] = []
        tools: Counter = Counter()
        row_traj: dict[str, int] = {}
        n_rows = 0
        with open(rows_path, "w", encoding="utf-8") as fh:
            for row in iter_rows(iter_trajectories(src, filters), cfg, filters, count):
                fh.write(dumps(row))
                fh.write("\n")
                n_rows += 1
                chars.append(_prompt_chars(row["prompt"]))
                if count is not None:
                    tokens.append(row["prompt_tokens"])
                tools[row["tool"]] += 1
                row_traj[row["trajectory_id"]] = row_traj.get(row["trajectory_id"], 0) + 1
                if on_row is not None:
                    on_row(n_rows)
        if filters.trajectories_read == 0:
            raise SweSrlError(f"{src}: no canonical trajectory could be read ({filters.bad_lines} bad lines)")
        if n_rows == 0:
            raise SweSrlError(f"{src}: every step was filtered out ({_filter_summary(filters)}); nothing to write")
        val_ids = split_trajectories(list(row_traj), cfg.val_fraction, cfg.seed)
        split_rows = {"train": 0, "validation": 0}
        split_trajs = {"train": 0, "validation": 0}
        for tid, n in row_traj.items():
            s = "validation" if tid in val_ids else "train"
            split_rows[s] += n
            split_trajs[s] += 1
        final = tmp / "dataset"
        _save(rows_path, final, cfg, count is not None, val_ids, split_rows)
        stats = {
            "format": DATASET_FORMAT_TAG,
            "version": __version__,
            "command": command or {},
            "config": cfg.to_dict(),
            "prompt_config": cfg.prompt.to_dict(),
            "source": str(src),
            "kind": cfg.kind,
            "rows": {"total": n_rows, **split_rows},
            "trajectories": {"total": len(row_traj), **split_trajs},
            "prompt_chars": _percentiles(chars),
            "prompt_tokens": _percentiles(tokens) if count is not None else None,
            "actions_by_tool": dict(sorted(tools.items(), key=lambda kv: (-kv[1], kv[0]))),
            "filters": asdict(filters),
        }
        write_json(final / DATASET_STATS.file, stats)
        _replace_dir(final, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return stats


def _filter_summary(f: Filters) -> str:
    parts = [f"{f.trajectories_read} trajectories read"]
    for name in ("not_resolved", "not_submitted", "no_steps", "format_error_steps", "non_canonical_tool_steps",
                 "over_token_budget", "duplicates"):
        n = getattr(f, name)
        if n:
            parts.append(f"{name.replace('_', ' ')}: {n}")
    return ", ".join(parts)


def _save(rows_path: Path, final: Path, cfg: DatasetConfig, with_tokens: bool, val_ids: set[str],
          split_rows: dict[str, int]) -> None:
    import datasets

    feats = features(cfg.kind, with_tokens)
    cache = rows_path.parent / "cache"

    def gen(split: str) -> Iterator[dict[str, Any]]:
        want_val = split == "validation"
        with open(rows_path, "rb") as fh:
            for line in fh:
                row = loads(line)
                if (row["trajectory_id"] in val_ids) == want_val:
                    yield row

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        splits = {}
        for split in SPLITS:
            if split_rows[split] == 0:
                # An empty split (e.g. --val-fraction 0): a typed empty table.
                splits[split] = datasets.Dataset(feats.arrow_schema.empty_table(),
                                                 info=datasets.DatasetInfo(features=feats), split=split)
            else:
                splits[split] = datasets.Dataset.from_generator(
                    gen, gen_kwargs={"split": split}, features=feats, cache_dir=str(cache), split=split
                )
        dd = datasets.DatasetDict(splits)
        final.mkdir(parents=True, exist_ok=True)
        # save_to_disk writes no shard for an empty split (and cannot load it back): force one.
        dd.save_to_disk(str(final), num_shards={k: 1 for k, n in split_rows.items() if n == 0} or None)
        for split, ds in dd.items():
            ds.to_parquet(str(final / f"{split}.parquet"))
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
        shutil.rmtree(cache, ignore_errors=True)


def _replace_dir(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``, replacing an existing ``dst`` only once ``src`` is complete."""
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)
