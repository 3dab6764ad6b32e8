"""Training configuration: one YAML file plus ``key=value`` overrides.

Top-level keys (everything else is a field of TRL's ``GRPOConfig`` for
``method: srl`` or ``SFTConfig`` for ``method: sft``, passed through)::

    method: srl               # srl (GRPO + dynamic sampling) | sft (the baseline)
    model: out/tiny           # a local model folder, or a LoRA adapter folder (merged into its base)
    dataset: out/data         # a `swe-srl dataset` folder (DatasetDict, splits train/validation)
    output_dir: runs/srl      # checkpoints/, adapter or model, metrics.jsonl, plots/
    lora: {r: 16, lora_alpha: 32, target_modules: all-linear}   # peft LoraConfig fields; null = full fine-tuning
    srl: {epsilon: 1.0e-6, max_refill_rounds: 4, similarity: difflib, compare: canonical}
    validation: {every_steps: 50, max_samples: 64, batch_size: 8, max_new_tokens: null}
    learning_rate: 5.0e-7     # ... any GRPOConfig / SFTConfig field

Overrides use dotted keys for the nested sections (``srl.epsilon=0.01``,
``lora.r=8``, ``lora=null``) and YAML values (``max_steps=10``,
``report_to=[tensorboard]``). An unknown key or a value of the wrong type is a
:class:`~swe_srl.errors.ConfigError` naming the key (and the closest valid
names). YAML's ``5e-7`` (no dot) is read as a number, not a string.

SRL defaults follow the paper (Deng et al. 2025): 8 rollouts per prompt,
temperature 1.0, KL coefficient (``beta``) 0, dynamic sampling on.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, ConfigDict, Field

from swe_srl.config import Config, suggest, validate_value
from swe_srl.errors import ConfigError
from swe_srl.rewards.reward import COMPARE_MODES
from swe_srl.rewards.similarity import SIMILARITIES

Method = Literal["srl", "sft"]
RolloutBackend = Literal["trl", "vllm"]
METHODS = typing.get_args(Method)
ROLLOUT_BACKENDS = typing.get_args(RolloutBackend)
TOP_KEYS = ("method", "model", "dataset", "output_dir", "lora", "srl", "validation", "rollout")

# Paper defaults for SRL (applied unless the config sets the field).
SRL_TRAINER_DEFAULTS: dict[str, Any] = {
    "num_generations": 8,
    "temperature": 1.0,
    "beta": 0.0,
    "logging_steps": 1,
    "save_steps": 50,
    "report_to": "none",
}
SFT_TRAINER_DEFAULTS: dict[str, Any] = {
    "logging_steps": 1,
    "save_steps": 50,
    "report_to": "none",
}


def _similarity(value: str) -> str:
    if value not in SIMILARITIES:
        raise ValueError(f"expected one of {', '.join(SIMILARITIES)}, got {value!r}")
    return value


def _compare(value: str) -> str:
    if value not in COMPARE_MODES:
        raise ValueError(f"expected one of {', '.join(COMPARE_MODES)}, got {value!r}")
    return value


def _path(value: str) -> str:
    if not value:
        raise ValueError("required (a path)")
    return str(Path(value).expanduser().absolute())


class _TrainSection(Config):
    # YAML numbers where a string is expected are read as strings (``run_name: 2024``).
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class SrlOptions(_TrainSection):
    """Options of the SRL reward and of dynamic sampling."""

    epsilon: float | None = Field(
        1e-6, ge=0, description="Drop a prompt's group when the population std of its rewards is <= epsilon; "
                                "null turns dynamic sampling off.")
    max_refill_rounds: int = Field(
        4, ge=0, description="Generation rounds from further prompts to refill dropped groups, per batch.")
    stop_without_signal_steps: int | None = Field(
        None, ge=1, description="Stop training after this many consecutive optimizer steps in which dynamic "
                                "sampling kept no group (every group's rewards were equal, e.g. all format "
                                "failures: the gradient is zero); null never stops. The summary records why.")
    similarity: Annotated[str, AfterValidator(_similarity)] = Field(
        "difflib", description="difflib (exact, C-accelerated), difflib-stdlib, or indel (faster, not identical).")
    compare: Annotated[str, AfterValidator(_compare)] = Field(
        "canonical", description="canonical: compare the canonical rendering of the parsed action; "
                                 "raw: the text as written.")


class ValidationOptions(_TrainSection):
    """Greedy validation on the dataset's validation split (mean action similarity)."""

    every_steps: int = Field(
        50, ge=0, description="Score the validation split every N optimizer steps (and at the end); 0 turns it off.")
    max_samples: int = Field(
        64, ge=0, description="At most this many validation rows (the first ones, for comparable numbers).")
    batch_size: int = Field(8, ge=1, description="Prompts answered together.")
    max_new_tokens: int | None = Field(
        None, ge=1, description="Defaults to max_completion_length (srl) or 256 (sft).")


class RolloutOptions(_TrainSection):
    """Where completions come from (SRL rollouts, and greedy validation for both methods)."""

    backend: RolloutBackend = Field(
        "trl", description="trl: TRL's own generation (transformers generate, or TRL's use_vllm on a GPU); vllm: "
                           "a vLLM engine in the training process that serves the current LoRA adapter each step "
                           "(works on CPU; needs LoRA).")
    max_model_len: int | None = Field(
        None, description="Context of the vLLM engine (prompt + completion tokens); default: the model's.")
    kv_cache_gb: float = Field(1.0, description="KV-cache size of the vLLM engine on CPU (VLLM_CPU_KVCACHE_SPACE, GiB).")
    gpu_memory_utilization: float = Field(
        0.3, description="Fraction of GPU memory the vLLM engine may take (GPU only).")


class TrainConfig(_TrainSection):
    """A validated training config: this project's keys, and the TRL trainer's fields passed through."""

    method: Method = Field("srl", description="srl (GRPO + dynamic sampling) or sft (the baseline).")
    model: Annotated[str, AfterValidator(_path)] = Field(
        description="A local model folder, or a LoRA adapter folder (merged into its base).")
    dataset: Annotated[str, AfterValidator(_path)] = Field(
        description="A `swe-srl dataset` folder (DatasetDict, splits train/validation).")
    output_dir: Annotated[str, AfterValidator(_path)] = Field(
        description="checkpoints/, adapter or model, metrics.jsonl, plots/.")
    lora: dict[str, Any] | None = Field(
        None, description="peft LoraConfig fields; null: full fine-tuning.")
    srl: SrlOptions = Field(default_factory=SrlOptions, description="See SrlOptions.")
    validation: ValidationOptions = Field(default_factory=ValidationOptions, description="See ValidationOptions.")
    rollout: RolloutOptions = Field(default_factory=RolloutOptions, description="See RolloutOptions.")
    trainer: dict[str, Any] = Field(
        default_factory=dict, description="GRPOConfig / SFTConfig fields (after defaults), checked by TRL.")
    source: str = Field("<config>", description="Where the config came from (for error messages).")

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "model": self.model, "dataset": self.dataset, "output_dir": self.output_dir,
            "lora": self.lora, "srl": self.srl.to_dict(), "validation": self.validation.to_dict(),
            "rollout": self.rollout.to_dict(), **self.trainer,
        }

    def trainer_config_class(self):
        from trl import GRPOConfig, SFTConfig

        return GRPOConfig if self.method == "srl" else SFTConfig

    def build_trainer_args(self, **extra: Any):
        """The TRL ``GRPOConfig`` / ``SFTConfig`` (errors become one-line ConfigErrors)."""
        cls = self.trainer_config_class()
        kwargs = {**self.trainer, **extra}
        kwargs.setdefault("output_dir", str(Path(self.output_dir) / "checkpoints"))
        if "bf16" not in kwargs and "fp16" not in kwargs:
            kwargs["bf16"] = _bf16_available()
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as e:
            msg = " ".join(str(e).split())
            raise ConfigError(f"{self.source}: invalid {cls.__name__}: {msg}") from None

    def lora_config(self):
        """A peft ``LoraConfig`` or None (full fine-tuning)."""
        if self.lora is None:
            return None
        from peft import LoraConfig

        kwargs = {"task_type": "CAUSAL_LM", **self.lora}
        try:
            return LoraConfig(**kwargs)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{self.source}: invalid lora: {' '.join(str(e).split())}") from None


def _bf16_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    except Exception:  # no CUDA build / driver: CPU defaults
        return False


# -- YAML ---------------------------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``5e-7`` / ``1e3`` as floats (YAML 1.1 wants a dot), and takes
    only true/false as booleans (YAML 1.2): ``save_strategy=no`` stays the string TRL expects."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"),
)

_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


# -- validation -----------------------------------------------------------------------------------

def _trainer_fields(method: str) -> dict[str, Any]:
    from trl import GRPOConfig, SFTConfig

    cls = GRPOConfig if method == "srl" else SFTConfig
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def _lora_fields() -> set[str]:
    from peft import LoraConfig

    return {f.name for f in dataclasses.fields(LoraConfig) if f.init}


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b=VALUE`` -> (["a", "b"], yaml value).

    >>> parse_override("srl.epsilon=1e-3")
    (['srl', 'epsilon'], 0.001)
    >>> parse_override("lora=null")
    (['lora'], None)
    """
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r}: expected KEY=VALUE")
    try:
        parsed = yaml_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return [p for p in key.strip().split(".")], parsed


def apply_overrides(data: dict[str, Any], overrides: typing.Sequence[str]) -> dict[str, Any]:
    data = dict(data)
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for p in path[:-1]:
            child = node.get(p)
            if child is None:
                child = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {p} is not a section")
            else:
                child = dict(child)
            node[p] = child
            node = child
        node[path[-1]] = value
    return data


def config_from_dict(data: dict[str, Any], *, source: str = "<config>", base_dir: Path | None = None) -> TrainConfig:
    """Validate a config mapping into a :class:`TrainConfig`: this project's keys by the
    models above, each TRL trainer field against its type (TRL's dataclass checks the rest
    when it is built), ``lora`` keys against peft's LoraConfig."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys, got {type(data).__name__}")
    method = data.get("method", "srl")
    if method not in METHODS:
        raise ConfigError(f"{source}: method: expected one of {', '.join(METHODS)}, got {method!r}")
    cls_name = "GRPOConfig" if method == "srl" else "SFTConfig"
    trainer_fields = _trainer_fields(method)
    trainer: dict[str, Any] = {}
    for k, v in data.items():
        if k in TOP_KEYS:
            continue
        if k not in trainer_fields:
            valid = list(TOP_KEYS) + list(trainer_fields)
            raise ConfigError(f"{source}: {k}: unknown key (not a swe-srl key nor a {cls_name} field){suggest(k, valid)}")
        trainer[k] = None if v is None else validate_value(trainer_fields[k].type, v, f"{source}: {k}")
    defaults = SRL_TRAINER_DEFAULTS if method == "srl" else SFT_TRAINER_DEFAULTS
    for k, v in defaults.items():
        trainer.setdefault(k, v)

    lora = data.get("lora")
    if lora is not None:
        if not isinstance(lora, dict):
            raise ConfigError(f"{source}: lora: expected a mapping of peft LoraConfig fields or null")
        valid = _lora_fields()
        for k in lora:
            if k not in valid:
                raise ConfigError(f"{source}: lora.{k}: unknown key (not a peft LoraConfig field){suggest(k, valid)}")

    # null: a section's defaults; a missing path is "required"; only lora: null means something (no LoRA)
    ours = {k: data[k] for k in TOP_KEYS if k in data and (data[k] is not None or k == "lora")}
    cfg = TrainConfig.from_dict({**ours, "trainer": trainer, "source": source}, source)
    if cfg.rollout.backend == "vllm" and lora is None:
        raise ConfigError(f"{source}: rollout.backend=vllm needs LoRA (lora: {{r: ...}}): vLLM's CPU backend cannot reload full weights each step")
    if cfg.rollout.backend == "vllm" and trainer.get("use_vllm"):
        raise ConfigError(f"{source}: use_vllm (TRL's engine) and rollout.backend=vllm (this project's) exclude each other; choose one")
    return cfg


def load_config(path: str | Path | None, overrides: typing.Sequence[str] = ()) -> TrainConfig:
    """Read ``path`` (YAML), apply ``key=value`` overrides, validate."""
    data: dict[str, Any] = {}
    source = "<overrides>"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: is a directory, not a YAML file") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not a text file (invalid UTF-8 at byte {e.start}); expected YAML") from None
        except OSError as e:
            raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
        if "\x00" in text:
            raise ConfigError(f"{path}: not a text file (NUL bytes); expected YAML")
        try:
            data = yaml_load(text) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            raise ConfigError(f"{where}: invalid YAML ({getattr(e, 'problem', None) or e})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    data = apply_overrides(data, overrides)
    return config_from_dict(data, source=source)
