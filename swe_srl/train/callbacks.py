"""Trainer callbacks: ``metrics.jsonl``, greedy validation, PNG plots.

* :class:`MetricsJsonlCallback` appends every log record (step, epoch and
  TRL's metrics: ``reward``, ``reward_std``, ``dynamic_sampling/*``,
  ``srl/format_failure_rate``, ``loss``, ``validation/*``...) to
  ``output_dir/metrics.jsonl`` (main process only; a resumed run appends).
* :class:`ValidationCallback` scores the validation split every N optimizer
  steps and at the last step: greedy decoding of each prompt, then the
  SRL reward. Logged: ``validation/similarity`` (mean action similarity, a
  format failure counting 0, the number the paper selects checkpoints by),
  ``validation/reward`` (mean SRL reward, -1 on format failure) and
  ``validation/format_failure_rate``. Rows are split over the processes and
  the scores gathered, so every process takes part (needed with ZeRO-3/FSDP).
* :func:`make_plots` draws ``plots/*.png`` from ``metrics.jsonl`` (matplotlib, Agg).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from transformers import TrainerCallback

from swe_srl.io import append_jsonl, iter_jsonl

__all__ = ["MetricsJsonlCallback", "NoSignalStop", "ValidationCallback", "greedy_validation", "make_plots", "read_metrics"]


class MetricsJsonlCallback(TrainerCallback):
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": int(state.global_step), "epoch": state.epoch}
        for k, v in logs.items():
            if isinstance(v, (int, float, str, bool)) or v is None:
                record[k] = v
            else:
                try:
                    record[k] = float(v)
                except (TypeError, ValueError):
                    record[k] = str(v)
        append_jsonl(self.path, record)


class NoSignalStop(TrainerCallback):
    """Ends SRL training after ``patience`` consecutive optimizer steps in which dynamic
    sampling kept no group anywhere: every group's rewards were equal (for instance all
    -1, format failures), so the policy gradient was zero and further steps only burn
    compute. ``trainer`` (set after the trainer is built) holds ``dynamic_sampling_history``;
    :attr:`stopped` says why training ended early, or stays None."""

    def __init__(self, patience: int):
        self.patience = int(patience)
        self.trainer = None
        self.quiet_steps = 0
        self.stopped: str | None = None

    def on_step_end(self, args, state, control, **kwargs):
        history = getattr(self.trainer, "dynamic_sampling_history", None) or []
        step = int(state.global_step) - 1  # records carry the step they were generated at
        records = [h for h in history if h["step"] == step]
        if not records:
            return
        no_signal = all(h["unfilled"] >= h["groups"] for h in records)
        self.quiet_steps = self.quiet_steps + 1 if no_signal else 0
        if self.quiet_steps >= self.patience:
            self.stopped = (f"no learning signal for {self.quiet_steps} consecutive steps (dynamic sampling kept "
                            f"no group: every group's rewards were equal); stopped at step {state.global_step}")
            control.should_training_stop = True


def greedy_validation(
    model,
    tokenizer,
    rows: Sequence[dict[str, Any]],
    *,
    max_new_tokens: int,
    batch_size: int = 8,
    similarity: str = "difflib",
    compare: str = "canonical",
    accelerator=None,
    rollouts=None,
    step: int | None = None,
) -> dict[str, float]:
    """Greedy responses to ``rows`` (``prompt`` chat, ``expert_action``) scored with the SRL reward.

    With ``rollouts`` (a :class:`~swe_srl.train.rollout.VLLMRollouts`) the answers come from the
    vLLM engine serving ``model``'s current adapter (single process); otherwise from ``model.generate``.
    """
    import torch

    if rollouts is not None:
        completions = rollouts.greedy(tokenizer, [r["prompt"] for r in rows], max_new_tokens=max_new_tokens,
                                      model=model, step=step)
        return _validation_scores(completions, list(rows), similarity=similarity, compare=compare)
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator is not None else (0, 1)
    indices = list(range(len(rows)))[rank::world]
    answered: list[tuple[int, str]] = []  # (row index, completion)
    was_training = model.training
    model.eval()
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    try:
        # Equal number of generate calls on every process (ZeRO-3 / FSDP gather weights inside generate).
        per_rank = -(-len(rows) // world)
        n_batches = -(-per_rank // batch_size) if per_rank else 0
        for b in range(n_batches):
            batch = indices[b * batch_size:(b + 1) * batch_size]
            texts = [tokenizer.apply_chat_template(rows[i]["prompt"], tokenize=False, add_generation_prompt=True) for i in batch]
            if not texts:  # this process ran out of rows: generate a dummy to stay in step
                texts = [tokenizer.apply_chat_template(rows[0]["prompt"], tokenize=False, add_generation_prompt=True)]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.no_grad():
                out = model.generate(
                    **enc, do_sample=False, max_new_tokens=max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                    temperature=None, top_p=None, top_k=None,
                )
            if not batch:
                continue
            answered += zip(batch, tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True))
    finally:
        tokenizer.padding_side = old_side
        if was_training:
            model.train()
    if accelerator is not None and world > 1:
        from accelerate.utils import gather_object

        answered = [pair for part in gather_object([answered]) for pair in part]
    answered.sort()
    return _validation_scores([c for _, c in answered], [rows[i] for i, _ in answered], similarity=similarity, compare=compare)


def _validation_scores(completions: list[str], rows: list[dict[str, Any]], **reward_options: Any) -> dict[str, float]:
    """The ``validation/*`` metrics: :func:`swe_srl.train.score.score_completions`, the numbers
    ``swe-srl score`` reports for the same answers."""
    from swe_srl.train.score import score_completions

    if not rows:
        return {}
    s = score_completions(completions, rows, **reward_options)
    return {
        "validation/similarity": s["mean_similarity"],
        "validation/reward": s["mean_reward"],
        "validation/format_failure_rate": 1.0 - s["format_valid_rate"],
        "validation/exact_match_rate": s["exact_match_rate"],
        "validation/samples": float(s["samples"]),
    }


class ValidationCallback(TrainerCallback):
    """Greedy validation every ``every_steps`` optimizer steps and at the end."""

    def __init__(self, rows: Sequence[dict[str, Any]], *, every_steps: int, max_new_tokens: int, batch_size: int = 8,
                 similarity: str = "difflib", compare: str = "canonical", rollouts=None):
        self.rows = list(rows)
        self.rollouts = rollouts  # a VLLMRollouts: greedy answers from the vLLM engine
        self.every_steps = every_steps
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.similarity = similarity
        self.compare = compare
        self.trainer = None  # set by the runner after the trainer exists
        self.last_step = -1
        self.history: list[dict[str, float]] = []

    def _run(self, state, *, log_now: bool = False) -> bool:
        if self.trainer is None or not self.rows or state.global_step == self.last_step:
            return False
        self.last_step = state.global_step
        trainer = self.trainer
        model = trainer.accelerator.unwrap_model(trainer.model)
        scores = greedy_validation(
            model, trainer.processing_class, self.rows, max_new_tokens=self.max_new_tokens, batch_size=self.batch_size,
            similarity=self.similarity, compare=self.compare, accelerator=trainer.accelerator,
            rollouts=self.rollouts, step=int(state.global_step),
        )
        if not scores:
            return False
        self.history.append({"step": state.global_step, **scores})
        metrics = getattr(trainer, "_metrics", None)
        if isinstance(metrics, dict) and "train" in metrics and not log_now:
            # TRL trainers average and flush these with their own metrics at the next log.
            for k, v in scores.items():
                metrics["train"][k].append(v)
            return True
        trainer.log(dict(scores))
        return False

    def on_train_begin(self, args, state, control, **kwargs):
        # The starting point of the validation curve (step 0, or the step a resumed run starts from).
        if self.every_steps and state.global_step < state.max_steps:
            self._run(state, log_now=True)
        return control

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        if self.every_steps and (step % self.every_steps == 0 or step == state.max_steps):
            if self._run(state):
                control.should_log = True  # log this step, validation included
        return control


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    return [v for _, v in iter_jsonl(path, strict=False) if isinstance(v, dict)]


PLOTS: dict[str, tuple[str, list[str]]] = {
    "reward.png": ("SRL reward per generation batch", ["reward", "reward_std"]),
    "dynamic_sampling.png": ("Dynamic sampling: fraction of groups dropped", ["dynamic_sampling/drop_fraction", "frac_reward_zero_std"]),
    "format_failure.png": ("Format-failure rate", ["srl/format_failure_rate"]),
    "validation.png": ("Validation (greedy)", ["validation/similarity", "validation/format_failure_rate"]),
    "loss.png": ("Training loss", ["loss"]),
}


def make_plots(metrics_path: str | Path, plots_dir: str | Path) -> list[Path]:
    """Draw the PNG plots that have data; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from swe_srl.io import atomic_open

    records = read_metrics(metrics_path)
    written: list[Path] = []
    plots_dir = Path(plots_dir)
    for name, (title, keys) in PLOTS.items():
        series = {}
        for key in keys:
            pts = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and "step" in r]
            if pts:
                series[key] = pts
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for key, pts in series.items():
            xs, ys = zip(*sorted(pts))
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, label=key)
        ax.set_title(title)
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        out = plots_dir / name
        with atomic_open(out, "wb") as fh:
            fig.savefig(fh, format="png", dpi=100)
        plt.close(fig)
        written.append(out)
    return written
