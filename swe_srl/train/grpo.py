"""SRL training: TRL's ``GRPOTrainer`` plus dynamic sampling.

Dynamic sampling (SRL paper, after DAPO): a prompt's group of G rollouts
whose rewards barely vary carries no GRPO signal (every advantage is ~0), so
the group is dropped when the *population* standard deviation of its rewards
is ``<= epsilon`` (and always when all rewards are identical), and the batch
is refilled with groups generated from further prompts, for at most
``max_refill_rounds`` extra generation rounds. If the batch is still short
after that, the remaining slots keep dropped groups (zero advantage: they add
no gradient) so that shapes stay what TRL expects; their number is logged.

Override point (read from TRL 1.16's source): ``_prepare_inputs`` calls
``_generate_and_score_completions(generation_batch)`` once per generation
batch and splits its output into ``steps_per_generation`` micro-batches. This
subclass wraps that method: it calls TRL's own implementation for the first
batch and for each refill round, reads the gathered rewards (captured from
``_calculate_rewards``), selects whole groups and concatenates the kept rows
(re-padding prompts on the left and completions on the right), then
recomputes ``num_items_in_batch``. Generation, rewards, advantages, vLLM,
importance sampling and the loss are TRL's, untouched.

Distributed runs: rewards are gathered across processes, so every process
sees every group's std and takes the same decisions (same number of refill
rounds, same sizes: no collective call can hang). Each process must hold
whole groups, i.e. ``per_device_train_batch_size * steps_per_generation`` must
be a multiple of ``num_generations`` (checked at start).

Logged per generation batch (``dynamic_sampling/...``): ``drop_fraction``
(groups dropped from the first batch / groups), ``dropped_groups`` (all
rounds), ``refill_rounds``, ``refilled_groups`` (groups in the batch that came
from refill rounds), ``unfilled_groups``.
"""

from __future__ import annotations

from typing import Any

import torch
from trl import GRPOTrainer

from swe_srl.errors import ConfigError

__all__ = ["SRLGRPOTrainer", "select_groups"]

# Per-row tensors in TRL's output and how to pad them when batches of
# different lengths are concatenated: (side, pad value; None = tokenizer pad id).
_SEQ_KEYS: dict[str, tuple[str, float | None]] = {
    "prompt_ids": ("left", None),
    "prompt_mask": ("left", 0),
    "completion_ids": ("right", None),
    "completion_mask": ("right", 0),
    "tool_mask": ("right", 1),
    "old_per_token_logps": ("right", 0.0),
    "sampling_per_token_logps": ("right", 0.0),
    "ref_per_token_logps": ("right", 0.0),
    "importance_sampling_ratio": ("right", 1.0),
}
_ROW_KEYS = {"advantages"}


def select_groups(rewards: torch.Tensor, num_generations: int, epsilon: float) -> torch.Tensor:
    """Which groups to keep: population std of the group's rewards > ``epsilon``
    and not all rewards equal. ``rewards`` is flat, groups are consecutive.

    >>> select_groups(torch.tensor([1., 1., 0., 1., .5, .5]), 2, 0.0).tolist()
    [False, True, False]
    """
    grouped = rewards.detach().to(torch.float64).view(-1, num_generations)
    grouped = torch.nan_to_num(grouped, nan=0.0)
    spread = grouped.max(dim=1).values - grouped.min(dim=1).values
    std = grouped.std(dim=1, correction=0)
    return (spread > 0) & (std > epsilon)


def _pad_cat(tensors: list[torch.Tensor], side: str, value: float) -> torch.Tensor:
    width = max(t.size(1) for t in tensors)
    out = []
    for t in tensors:
        missing = width - t.size(1)
        if missing:
            pad = t.new_full((t.size(0), missing, *t.shape[2:]), value)
            t = torch.cat([pad, t], dim=1) if side == "left" else torch.cat([t, pad], dim=1)
        out.append(t)
    return torch.cat(out, dim=0)


class SRLGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` with dynamic sampling (``epsilon=None`` turns it off)."""

    def __init__(self, *args: Any, epsilon: float | None = 1e-6, max_refill_rounds: int = 4, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.ds_epsilon = epsilon
        self.ds_max_refill_rounds = max_refill_rounds
        self._ds_last_rewards: torch.Tensor | None = None
        self._ds_calls_this_step = 0
        self._ds_last_step = -1
        # One record per generation batch (rank-local copy of global decisions): for inspection and tests.
        self.dynamic_sampling_history: list[dict[str, Any]] = []
        if epsilon is not None:
            local = self.args.per_device_train_batch_size * self.args.steps_per_generation
            if local % self.num_generations:
                raise ConfigError(
                    f"dynamic sampling needs whole groups per process: per_device_train_batch_size * steps_per_generation "
                    f"({local}) must be a multiple of num_generations ({self.num_generations}); or set srl.epsilon=null"
                )
            if not hasattr(self.train_dataset, "__getitem__") or not hasattr(self.train_dataset, "__len__"):
                raise ConfigError("dynamic sampling refills from the training set, which must be a map-style dataset")

    # -- hooks into TRL ---------------------------------------------------------------------------
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._ds_last_rewards = rewards_per_func  # gathered over processes: (global rows, reward funcs)
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        if self.ds_epsilon is None or not self.model.training:
            return super()._generate_and_score_completions(inputs)
        return self._dynamic_sampling(inputs)

    # -- dynamic sampling -------------------------------------------------------------------------
    def _score_round(self, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor]:
        """TRL's generate+score on ``rows``; returns (output, keep per global group, rewards per global row)."""
        self._ds_last_rewards = None
        output = super()._generate_and_score_completions(rows)
        rewards_per_func = self._ds_last_rewards
        assert rewards_per_func is not None, "TRL did not call _calculate_rewards"
        weights = self.reward_weights.to(rewards_per_func.device)
        rewards = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)
        return output, select_groups(rewards, self.num_generations, float(self.ds_epsilon)), rewards.detach().cpu()

    def _refill_rows(self, groups_per_process: int, round_index: int) -> list[dict[str, Any]]:
        """Further prompts for this process: the same global draw on every process, sliced by rank."""
        nproc = self.accelerator.num_processes
        total = groups_per_process * nproc
        # Keyed by (seed, optimizer step, generation batch within the step, round): a resumed run draws the same prompts.
        key = ((int(self.args.seed) * 1_000_003 + int(self.state.global_step)) * 1_009 + self._ds_calls_this_step) * 101 + round_index
        gen = torch.Generator().manual_seed(key % (2**63))
        n = len(self.train_dataset)
        if total <= n:
            order = torch.randperm(n, generator=gen)[:total]
        else:
            order = torch.randint(0, n, (total,), generator=gen)
        mine = order[self.accelerator.process_index * groups_per_process:(self.accelerator.process_index + 1) * groups_per_process]
        rows = []
        for idx in mine.tolist():
            row = self.train_dataset[int(idx)]
            rows.extend(dict(row) for _ in range(self.num_generations))
        return rows

    def _dynamic_sampling(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        G = self.num_generations
        nproc = self.accelerator.num_processes
        rank = self.accelerator.process_index
        if len(inputs) % G:
            raise ConfigError(f"a generation batch of {len(inputs)} rows is not whole groups of {G}")
        need = len(inputs) // G  # groups per process
        step = int(self.state.global_step)
        self._ds_calls_this_step = self._ds_calls_this_step + 1 if step == self._ds_last_step else 0
        self._ds_last_step = step

        output, keep, rewards = self._score_round(inputs)
        rounds: list[tuple[dict[str, Any], torch.Tensor, list[dict[str, Any]]]] = [(output, keep.view(nproc, -1), inputs)]
        kept = keep.view(nproc, -1).sum(dim=1)
        record: dict[str, Any] = {
            "step": int(self.state.global_step),
            "groups": int(keep.numel()),
            "rounds": [{"keep": keep.tolist(), "rewards": rewards.view(-1, G).tolist(),
                        "ids": [_row_id(r) for r in inputs[::G]]}],
        }
        dropped_first = int((~keep).sum())
        dropped_total = dropped_first
        refill_round = 0
        while bool((kept < need).any()) and refill_round < self.ds_max_refill_rounds:
            refill_round += 1
            missing = int((need - kept).clamp(min=0).max())
            rows = self._refill_rows(missing, refill_round)
            out_r, keep_r, rewards_r = self._score_round(rows)
            rounds.append((out_r, keep_r.view(nproc, -1), rows))
            kept = kept + keep_r.view(nproc, -1).sum(dim=1)
            dropped_total += int((~keep_r).sum())
            record["rounds"].append({"keep": keep_r.tolist(), "rewards": rewards_r.view(-1, G).tolist(),
                                     "ids": [_row_id(r) for r in rows[::G]]})

        # Choose this process's groups: kept groups in order, then dropped ones if still short.
        chosen: list[tuple[int, int]] = []  # (round, local group)
        refilled_local = 0
        for r, (_, keep_r, _) in enumerate(rounds):
            for g, ok in enumerate(keep_r[rank].tolist()):
                if ok and len(chosen) < need:
                    chosen.append((r, g))
                    refilled_local += r > 0
        unfilled_local = need - len(chosen)
        fillers: set[tuple[int, int]] = set()
        for r, (_, keep_r, _) in enumerate(rounds):
            for g, ok in enumerate(keep_r[rank].tolist()):
                if not ok and len(chosen) < need:
                    chosen.append((r, g))
                    fillers.add((r, g))
        # Global counts, computed identically on every process from the gathered decisions.
        refilled = unfilled = 0
        for p in range(nproc):
            have = 0
            for r, (_, keep_r, _) in enumerate(rounds):
                for ok in keep_r[p].tolist():
                    if ok and have < need:
                        have += 1
                        refilled += r > 0
            unfilled += need - have

        merged = self._merge(rounds, chosen, fillers)
        chosen_ids = [_row_id(rounds[r][2][g * G]) for r, g in chosen]
        record.update({
            "dropped_first": dropped_first, "dropped_total": dropped_total, "refill_rounds": refill_round,
            "refilled": refilled, "unfilled": unfilled, "chosen_ids_local": chosen_ids,
            "chosen_local": chosen, "refilled_local": refilled_local, "unfilled_local": unfilled_local,
        })
        self.dynamic_sampling_history.append(record)
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/drop_fraction"].append(dropped_first / max(1, keep.numel()))
        metrics["dynamic_sampling/dropped_groups"].append(float(dropped_total))
        metrics["dynamic_sampling/refill_rounds"].append(float(refill_round))
        metrics["dynamic_sampling/refilled_groups"].append(float(refilled))
        metrics["dynamic_sampling/unfilled_groups"].append(float(unfilled))
        return merged

    def _merge(self, rounds, chosen: list[tuple[int, int]], fillers: set[tuple[int, int]]) -> dict[str, Any]:
        """Concatenate the chosen groups' rows. Filler groups (dropped ones kept only for the
        batch shape) get zero advantages: with epsilon > 0 their tiny spread would otherwise be
        amplified by the group normalisation."""
        G = self.num_generations
        if len(rounds) == 1 and chosen == [(0, g) for g in range(len(chosen))] and not fillers:
            return rounds[0][0]  # nothing dropped: TRL's output as is
        outputs = [o for o, _, _ in rounds]
        pad_id = self._tokenizer.pad_token_id
        keys = set(outputs[0])
        for o in outputs[1:]:
            if set(o) != keys:
                raise RuntimeError("TRL returned different keys for two generation rounds")
        unsupported = keys - set(_SEQ_KEYS) - _ROW_KEYS - {"num_items_in_batch"}
        if unsupported:
            raise ConfigError(
                f"dynamic sampling does not support {', '.join(sorted(unsupported))} (multimodal inputs?); set srl.epsilon=null"
            )
        merged: dict[str, Any] = {}
        for key in keys - {"num_items_in_batch"}:
            parts = []
            for r, g in chosen:
                t = outputs[r][key][g * G:(g + 1) * G]
                if key == "advantages" and (r, g) in fillers:
                    t = torch.zeros_like(t)
                parts.append(t)
            if key in _ROW_KEYS or parts[0].dim() < 2:
                merged[key] = torch.cat(parts, dim=0)
            elif key == "importance_sampling_ratio" and all(p.size(1) == 1 for p in parts):
                merged[key] = torch.cat(parts, dim=0)
            else:
                side, value = _SEQ_KEYS[key]
                merged[key] = _pad_cat(parts, side, pad_id if value is None else value)
        loss_mask = merged["completion_mask"]
        if "tool_mask" in merged:
            loss_mask = loss_mask * merged["tool_mask"]
        merged["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        return merged


def _row_id(row: dict[str, Any]) -> Any:
    """A short identity of a dataset row for the history (trajectory id and step if present)."""
    if "trajectory_id" in row:
        return f"{row['trajectory_id']}#{row.get('step_index', '')}"
    prompt = row.get("prompt")
    return hash(str(prompt)) if prompt is not None else None

