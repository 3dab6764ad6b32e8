"""``hf:PATH``: a local transformers model (or a peft LoRA adapter on its base).

The chat is rendered with the tokenizer's chat template (generation prompt
added) and the ``n`` candidates are sampled in one batch
(``num_return_sequences``). Generation stops at the end of the action
(``</function>``) or at the end-of-turn token. One model serves every agent
worker: calls are serialised by a lock (a single forward pass already uses
all cores on CPU). ``generate_batch`` answers many chats at once (one
completion each, left-padded batches), for scoring and validation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from swe_srl.errors import ConfigError
from swe_srl.policy.base import BasePolicy, Completion, PolicyError, SamplingConfig, check_messages, resolve_model_dir


class HFPolicy(BasePolicy):
    name = "hf"

    def __init__(
        self,
        path: str | Path,
        *,
        adapter: str | Path | None = None,
        sampling: SamplingConfig | None = None,
        dtype: str = "auto",
        device: str | None = None,
        merge_adapter: bool = False,
    ):
        super().__init__(sampling)
        base_dir, found_adapter = resolve_model_dir(path)  # bad paths fail before torch loads
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        adapter_dir = Path(adapter) if adapter else found_adapter
        self.path = str(path)
        self.base_dir = base_dir
        self.adapter_dir = adapter_dir
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype == "auto":
            torch_dtype = torch.float32 if self.device == "cpu" else torch.bfloat16
        else:
            try:
                torch_dtype = getattr(torch, dtype)
            except AttributeError:
                raise ConfigError(f"unknown dtype {dtype!r} (float32, bfloat16, float16)") from None
        tok_dir = adapter_dir if adapter_dir and (adapter_dir / "tokenizer_config.json").is_file() else base_dir
        self.tokenizer = AutoTokenizer.from_pretrained(tok_dir)
        if self.tokenizer.chat_template is None:
            raise ConfigError(f"{tok_dir}: the tokenizer has no chat template")
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch_dtype)
        if adapter_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter_dir)
            if merge_adapter:
                model = model.merge_and_unload()
        self.model = model.to(self.device).eval()
        cfg = getattr(self.model, "config", None)
        self._max_context = getattr(cfg, "max_position_embeddings", None)
        eos = {self.tokenizer.eos_token_id, getattr(self.model.generation_config, "eos_token_id", None)}
        flat: set[int] = set()
        for e in eos:
            if isinstance(e, (list, tuple)):
                flat.update(e)
            elif e is not None:
                flat.add(e)
        self._eos_ids = sorted(flat)
        self._pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self._eos_ids[0]

    @classmethod
    def from_spec(cls, target: str, **opts: Any) -> "HFPolicy":
        sampling, rest = SamplingConfig.from_options(opts)
        known = {"adapter", "dtype", "device", "merge_adapter"}
        unknown = set(rest) - known
        if unknown:
            raise ConfigError(f"hf policy: unknown option(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(known))}")
        return cls(target, sampling=sampling, **rest)

    @property
    def max_context(self) -> int | None:
        return self._max_context

    def _encode(self, messages: list[dict[str, Any]]):
        enc = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        return enc["input_ids"], enc.get("attention_mask")

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        ids, _ = self._encode(check_messages(messages))
        return int(ids.shape[1])

    def _generate_kwargs(self, s: SamplingConfig, max_new: int, n: int) -> dict[str, Any]:
        greedy = s.temperature == 0
        kwargs: dict[str, Any] = dict(
            max_new_tokens=max_new,
            num_return_sequences=1 if greedy else n,
            pad_token_id=self._pad_id,
            eos_token_id=self._eos_ids,
        )
        if not greedy:
            kwargs.update(do_sample=True, temperature=s.temperature, top_p=s.top_p, top_k=0)
        else:  # greedy: one sequence (copied n times by the caller)
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if s.stop:
            kwargs.update(stop_strings=list(s.stop), tokenizer=self.tokenizer)
        return kwargs

    def _max_new(self, s: SamplingConfig, prompt_len: int) -> int:
        max_new = s.max_tokens
        if self._max_context:
            max_new = min(max_new, self._max_context - prompt_len)
            if max_new < 1:
                raise PolicyError(f"prompt of {prompt_len} tokens fills the model's context ({self._max_context})")
        return max_new

    def _completion(self, row: list[int], s: SamplingConfig, max_new: int, prompt_len: int) -> Completion:
        """The completion of one generated row (prompt removed): cut at the first
        end-of-turn/pad token, then after the first stop string."""
        eos = set(self._eos_ids) | {self._pad_id}
        length = next((i for i, t in enumerate(row) if t in eos), len(row))
        ended = length < len(row) or (length == len(row) and length < max_new)
        text = self.tokenizer.decode(row[:length], skip_special_tokens=True)
        finish = "stop" if ended else "length"
        for stop in s.stop:
            cut = text.find(stop)
            if cut >= 0:
                text, finish = text[: cut + len(stop)], "stop"
                break
        return Completion(text=text, prompt_tokens=prompt_len, completion_tokens=length, finish_reason=finish)

    def generate(self, messages: list[dict[str, Any]], n: int = 1, **overrides: Any) -> list[Completion]:
        import torch

        check_messages(messages)
        if n < 1:
            return []
        s = self._sampling(overrides)
        input_ids, attention_mask = self._encode(messages)
        prompt_len = int(input_ids.shape[1])
        max_new = self._max_new(s, prompt_len)
        with self._lock, torch.inference_mode():
            if s.seed is not None:
                torch.manual_seed(s.seed)
            out = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=None if attention_mask is None else attention_mask.to(self.device),
                **self._generate_kwargs(s, max_new, n),
            )
        rows = out[:, prompt_len:].tolist()
        if s.temperature == 0:
            rows = rows * n
        return [self._completion(row, s, max_new, prompt_len) for row in rows]

    def generate_batch(
        self,
        conversations: list[list[dict[str, Any]]],
        *,
        batch_size: int = 8,
        progress: Callable[[int], None] | None = None,
        **overrides: Any,
    ) -> list[Completion]:
        """One completion per chat, in order. Chats are grouped by prompt length
        into left-padded batches of ``batch_size`` (less padding, the same
        greedy answers up to float rounding); ``progress(k)`` is called after
        each batch with the number of chats it finished."""
        import torch

        for messages in conversations:
            check_messages(messages)
        s = self._sampling(overrides)
        encoded = [self._encode(m)[0][0].tolist() for m in conversations]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        results: list[Completion | None] = [None] * len(encoded)
        for start in range(0, len(order), max(1, batch_size)):
            chunk = order[start:start + max(1, batch_size)]
            longest = max(len(encoded[i]) for i in chunk)
            max_new = self._max_new(s, longest)
            input_ids = torch.full((len(chunk), longest), self._pad_id, dtype=torch.long)
            attention = torch.zeros((len(chunk), longest), dtype=torch.long)
            for r, i in enumerate(chunk):
                ids = encoded[i]
                input_ids[r, longest - len(ids):] = torch.tensor(ids, dtype=torch.long)
                attention[r, longest - len(ids):] = 1
            with self._lock, torch.inference_mode():
                if s.seed is not None:
                    torch.manual_seed(s.seed)
                out = self.model.generate(input_ids=input_ids.to(self.device), attention_mask=attention.to(self.device),
                                          **self._generate_kwargs(s, max_new, 1))
            for r, i in enumerate(chunk):
                results[i] = self._completion(out[r, longest:].tolist(), s, max_new, len(encoded[i]))
            if progress is not None:
                progress(len(chunk))
        return [c for c in results if c is not None]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": self.path, "base": str(self.base_dir),
                "adapter": str(self.adapter_dir) if self.adapter_dir else None, "device": self.device}

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]
