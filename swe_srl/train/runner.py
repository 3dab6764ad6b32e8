"""``swe-srl train``: load the config, the dataset and the model, run TRL, save.

Layout of ``output_dir``::

    checkpoints/checkpoint-N/   TRL/transformers checkpoints (``--resume`` continues from the last)
    adapter/ or model/          the final LoRA adapter (peft) or full model, with the tokenizer
    start_model/                when ``model`` is a LoRA adapter: its base with it merged (the new adapter's base)
    metrics.jsonl               every log record (append-only; a resumed run appends)
    plots/*.png                 reward mean/std, dynamic-sampling drop fraction, format failures, validation
    config.yaml                 the resolved config, the package version and a format tag
    summary.json                steps, final metrics, validation history, wall time
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from swe_srl.errors import ConfigError, SweSrlError
from swe_srl.formats import PROMPT_CONFIG, TRAIN_CONFIG, TRAIN_METRICS, TRAIN_SUMMARY
from swe_srl.train.config import TrainConfig

__all__ = ["train", "run_training", "load_splits", "to_srl_dataset", "last_checkpoint"]


def last_checkpoint(output_dir: str | Path) -> Path | None:
    ckpt_dir = Path(output_dir) / "checkpoints"
    if not ckpt_dir.is_dir():
        return None
    best = None
    for p in ckpt_dir.glob("checkpoint-*"):
        try:
            n = int(p.name.split("-")[-1])
        except ValueError:
            continue
        if (p / "trainer_state.json").exists() and (best is None or n > best[0]):
            best = (n, p)
    return best[1] if best else None


def to_srl_dataset(ds, *, source: str = "dataset"):
    """Ensure ``prompt`` + ``expert_action`` (derived from an SFT ``completion`` if needed)."""
    cols = set(ds.column_names)
    if "prompt" not in cols:
        raise ConfigError(f"{source}: no 'prompt' column (columns: {', '.join(sorted(cols))})")
    if "expert_action" in cols:
        return ds
    if "completion" not in cols:
        raise ConfigError(f"{source}: neither 'expert_action' nor 'completion' column for SRL")
    from swe_srl.rewards.format import parse_response
    from swe_srl.rewards.reward import completion_text

    def add(row: dict[str, Any]) -> dict[str, Any]:
        return {"expert_action": parse_response(completion_text(row["completion"])).action.render()}

    try:
        return ds.map(add)
    except SweSrlError as e:
        raise ConfigError(f"{source}: a completion is not in the think + action format ({e})") from None


def load_splits(cfg: TrainConfig):
    """(train, validation or None) from a ``swe-srl dataset`` folder."""
    import datasets

    path = Path(cfg.dataset)
    if not path.exists():
        raise ConfigError(f"{cfg.source}: dataset: {path}: no such folder")
    try:
        dd = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as e:
        raise ConfigError(f"{path}: not a dataset saved with save_to_disk ({' '.join(str(e).split())})") from None
    if isinstance(dd, datasets.Dataset):
        train, val = dd, None
    else:
        if "train" not in dd:
            raise ConfigError(f"{path}: no 'train' split (splits: {', '.join(dd)})")
        train = dd["train"]
        val = dd["validation"] if "validation" in dd else None
    if len(train) == 0:
        raise ConfigError(f"{path}: the train split is empty")
    return train, val


def _write_config(cfg: TrainConfig) -> None:
    import yaml

    from swe_srl import __version__
    from swe_srl.io import atomic_open

    data = {"format": TRAIN_CONFIG.tag, "swe_srl_version": __version__, **cfg.to_dict()}
    with atomic_open(Path(cfg.output_dir) / TRAIN_CONFIG.file) as fh:
        yaml.safe_dump(_plain(data), fh, sort_keys=False)


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(getattr(obj, "value", obj))


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop records logged after the checkpoint we resume from (they will be logged again)."""
    from swe_srl.io import write_jsonl
    from swe_srl.train.callbacks import read_metrics

    if path.exists():
        records = read_metrics(path)
        keep = [r for r in records if int(r.get("step", 0)) <= step]
        if len(keep) != len(records):
            write_jsonl(path, keep)


def resolve_start(cfg: TrainConfig) -> tuple[Path, Path | None]:
    """``(base model folder, adapter folder | None)`` of ``model``; a one-line
    :class:`ConfigError` when it is neither a model nor a LoRA adapter."""
    from swe_srl.policy.base import resolve_model_dir

    try:
        return resolve_model_dir(cfg.model)
    except SweSrlError as e:
        raise ConfigError(f"{cfg.source}: model: {e}") from None


def load_start_model(cfg: TrainConfig, base: Path, adapter: Path | None) -> Path:
    """The model folder training starts from: ``base`` itself, or, with a LoRA
    ``adapter`` (e.g. the SFT warm start's ``adapter/``), the base with the
    adapter merged in, saved once as ``output_dir/start_model/`` (with the
    tokenizer; :func:`~swe_srl.train.merge.merge_adapter`). A new adapter then
    names that folder as its base, so it loads on the weights it was trained
    on; ``--resume`` reuses the folder."""
    if adapter is None:
        return base
    from accelerate import PartialState

    from swe_srl.train.merge import merge_adapter

    with PartialState().main_process_first():
        return merge_adapter(adapter, Path(cfg.output_dir) / "start_model", base=base).out


def build_srl_trainer(cfg: TrainConfig, args, tokenizer, train_dataset, callbacks, *, model: str,
                      reward_funcs: list | None = None, rollouts=None):
    from swe_srl.rewards.reward import make_srl_reward
    from swe_srl.train.grpo import SRLGRPOTrainer

    if reward_funcs is None:
        reward_funcs = [make_srl_reward(similarity=cfg.srl.similarity, compare=cfg.srl.compare)]
    return SRLGRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=to_srl_dataset(train_dataset, source=cfg.dataset),
        processing_class=tokenizer,
        peft_config=cfg.lora_config(),
        callbacks=callbacks,
        epsilon=cfg.srl.epsilon,
        max_refill_rounds=cfg.srl.max_refill_rounds,
        rollout_func=rollouts.rollout_func if rollouts is not None else None,
    )


def start_rollouts(cfg: TrainConfig, model: str):
    """The vLLM engine of ``rollout.backend: vllm`` (None for ``trl``), serving adapters on ``model``.
    SFT uses it only for greedy validation, so without validation no engine is started."""
    if cfg.rollout.backend != "vllm":
        return None
    if cfg.method == "sft" and not cfg.validation.every_steps:
        return None
    from swe_srl.train.rollout import VLLMRollouts, adapter_rank

    return VLLMRollouts(
        model, lora_rank=adapter_rank(cfg.lora), work_dir=Path(cfg.output_dir) / "rollout_adapters",
        max_model_len=cfg.rollout.max_model_len, kv_cache_gb=cfg.rollout.kv_cache_gb,
        gpu_memory_utilization=cfg.rollout.gpu_memory_utilization, seed=int(cfg.trainer.get("seed", 42)),
    )


def _record_prompt_config(cfg: TrainConfig) -> None:
    """``output_dir/prompt_config.json``: the prompt contract of the dataset trained on (from its
    ``stats.json``), so agents built on this model are asked in the form it was trained on."""
    from swe_srl.io import write_json

    stats_path = Path(cfg.dataset) / "stats.json"
    try:
        stats = json.loads(stats_path.read_text())
    except (OSError, ValueError):
        return
    prompt = stats.get("prompt_config") if isinstance(stats, dict) else None
    if isinstance(prompt, dict):
        write_json(Path(cfg.output_dir) / PROMPT_CONFIG.file, {**prompt, "source": str(stats_path)})


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def train(cfg: TrainConfig, *, resume: bool = False, log: Callable[[str], None] = _to_stderr) -> dict[str, Any]:
    """Run training; returns the summary (also written to ``output_dir/summary.json``).
    ``log`` receives the notes meant for the user (the CLI prints them on its console)."""
    summary, _ = run_training(cfg, resume=resume, log=log)
    return summary


def run_training(cfg: TrainConfig, *, resume: bool = False, extra_callbacks: list | None = None, reward_funcs=None,
                 log: Callable[[str], None] = _to_stderr):
    """Run training; returns ``(summary, trainer)``.

    ``reward_funcs`` (SRL only) replaces the SRL reward: for experiments and tests.
    """
    from transformers import AutoTokenizer

    from swe_srl.io import write_json
    from swe_srl.train.callbacks import MetricsJsonlCallback, ValidationCallback, make_plots, read_metrics
    from swe_srl.train.rollout import describe as describe_rollouts

    out = Path(cfg.output_dir)
    base, adapter = resolve_start(cfg)
    checkpoint = last_checkpoint(out)
    if checkpoint is not None and not resume:
        raise ConfigError(f"{out} already has checkpoints (last: {checkpoint.name}); pass --resume to continue, or choose another output_dir")
    if resume and checkpoint is None:
        log(f"note: --resume but no checkpoint in {out / 'checkpoints'}; starting from step 0")

    train_ds, val_ds = load_splits(cfg)
    model = str(load_start_model(cfg, base, adapter))
    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if cfg.method == "srl":
        tokenizer.padding_side = "left"

    args = cfg.build_trainer_args()
    rollouts = start_rollouts(cfg, model)
    callbacks: list = [MetricsJsonlCallback(out / TRAIN_METRICS.file)]
    validation = None
    if val_ds is not None and cfg.validation.every_steps and len(val_ds):
        vrows = to_srl_dataset(val_ds, source=f"{cfg.dataset} (validation)")
        n = min(len(vrows), cfg.validation.max_samples)
        rows = [{"prompt": r["prompt"], "expert_action": r["expert_action"]} for r in vrows.select(range(n))]
        max_new = cfg.validation.max_new_tokens or (getattr(args, "max_completion_length", None) or 256)
        validation = ValidationCallback(
            rows, every_steps=cfg.validation.every_steps, max_new_tokens=int(max_new),
            batch_size=cfg.validation.batch_size, similarity=cfg.srl.similarity, compare=cfg.srl.compare,
            rollouts=rollouts,
        )
        callbacks.append(validation)
    no_signal = None
    if cfg.method == "srl" and cfg.srl.stop_without_signal_steps:
        from swe_srl.train.callbacks import NoSignalStop

        no_signal = NoSignalStop(cfg.srl.stop_without_signal_steps)
        callbacks.append(no_signal)
    callbacks += list(extra_callbacks or [])

    if cfg.method == "srl":
        trainer = build_srl_trainer(cfg, args, tokenizer, train_ds, callbacks, model=model, reward_funcs=reward_funcs,
                                    rollouts=rollouts)
    else:
        from swe_srl.train.sft import build_sft_trainer

        trainer = build_sft_trainer(cfg, args, tokenizer, train_ds, callbacks, model=model)
    if validation is not None:
        validation.trainer = trainer
    if no_signal is not None:
        no_signal.trainer = trainer

    if trainer.accelerator.is_main_process:
        _write_config(cfg)
        _record_prompt_config(cfg)
        if resume and checkpoint is not None:
            _truncate_metrics(out / TRAIN_METRICS.file, int(checkpoint.name.split("-")[-1]))
    t0 = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=str(checkpoint) if (resume and checkpoint) else None)
    finally:
        if rollouts is not None:
            rollouts.close()
    wall = time.perf_counter() - t0
    if no_signal is not None and no_signal.stopped:
        log(f"note: {no_signal.stopped}")

    is_peft = cfg.lora is not None
    final_dir = out / ("adapter" if is_peft else "model")
    trainer.save_model(str(final_dir))  # every process must call it (ZeRO-3/FSDP gather)
    summary: dict[str, Any] = {}
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(str(final_dir))
        plots = make_plots(out / TRAIN_METRICS.file, out / "plots")
        records = read_metrics(out / TRAIN_METRICS.file)
        last_train = {}
        for r in records:
            for k, v in r.items():
                if isinstance(v, (int, float)) and not k.startswith("validation/"):
                    last_train[k] = v
        summary = {
            "format": TRAIN_SUMMARY.tag,
            "method": cfg.method,
            "global_step": int(trainer.state.global_step),
            "num_processes": int(trainer.accelerator.num_processes),
            "resumed_from": str(checkpoint) if (resume and checkpoint) else None,
            "train_rows": len(train_ds),
            "validation_rows": len(validation.rows) if validation else 0,
            "train_loss": getattr(result, "training_loss", None),
            "wall_s": round(wall, 3),
            "final_dir": str(final_dir),
            "plots": [str(p) for p in plots],
            "last_logged": last_train,
            "validation": validation.history if validation else [],
            "rollout": describe_rollouts(rollouts),
            "stopped_early": no_signal.stopped if no_signal is not None else None,
        }
        if cfg.method == "srl" and hasattr(trainer, "dynamic_sampling_history"):
            hist = trainer.dynamic_sampling_history
            summary["dynamic_sampling"] = {
                "generation_batches": len(hist),
                "groups_dropped_first": sum(h["dropped_first"] for h in hist),
                "groups_dropped_total": sum(h["dropped_total"] for h in hist),
                "refill_rounds": sum(h["refill_rounds"] for h in hist),
                "groups_refilled": sum(h["refilled"] for h in hist),
                "groups_unfilled": sum(h["unfilled"] for h in hist),
            }
        write_json(out / TRAIN_SUMMARY.file, summary)
    trainer.accelerator.wait_for_everyone()
    return summary, trainer
