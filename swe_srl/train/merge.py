"""A LoRA adapter merged into its base model, saved as a plain model folder.

Used where a full model is the better thing to hand on: the start of training
from an adapter (``output_dir/start_model``, the new adapter's base), and
serving (``swe-srl model merge``): vLLM's CPU build generates faster from
merged weights than from the base with the adapter as a LoRA request
(``scripts/bench/serve_lora.py``), and a merged model needs no
``--enable-lora`` settings. Serve it in float32 on CPU, as
:func:`swe_srl.policy.vllm.engine_dtype` explains.

The folder holds the weights, the tokenizer (the adapter's own when it has
one, else the base's) with its chat template, and :data:`MERGE_RECORD`
naming the base, the adapter and the sha256 of the adapter's weights. Writing
is atomic (a temporary folder renamed into place); re-running on the same
adapter is a no-op, and a retrained adapter (other weights) is merged again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swe_srl.errors import SweSrlError

MERGE_RECORD = "swe_srl_merge.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


@dataclass(frozen=True)
class MergeResult:
    out: Path
    record: dict[str, Any]
    reused: bool


def _weights_sha256(adapter: Path) -> str:
    for name in ADAPTER_WEIGHTS:
        f = adapter / name
        if f.is_file():
            h = hashlib.sha256()
            with f.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            return h.hexdigest()
    raise SweSrlError(f"{adapter}: no adapter weights ({' or '.join(ADAPTER_WEIGHTS)})")


def merge_record(base: Path, adapter: Path) -> dict[str, Any]:
    """What a merge of ``adapter`` into ``base`` is recorded as (and compared by on re-runs)."""
    return {"base": str(base.resolve()), "adapter": str(adapter.resolve()),
            "adapter_sha256": _weights_sha256(adapter)}


def merge_adapter(adapter: str | Path, out: str | Path, *, base: str | Path | None = None) -> MergeResult:
    """Merge the LoRA ``adapter`` into its base (the one its ``adapter_config.json``
    names, or ``base``) and save the result to ``out``; a no-op when ``out``
    already holds this merge. A folder that is not an adapter is a one-line
    :class:`SweSrlError`."""
    from swe_srl.policy.base import resolve_model_dir

    adapter, out = Path(adapter).expanduser(), Path(out).expanduser()
    named_base, adapter_dir = resolve_model_dir(adapter)
    if adapter_dir is None:
        raise SweSrlError(f"{adapter}: not a LoRA adapter (no adapter_config.json); nothing to merge")
    base = Path(base).expanduser() if base is not None else named_base
    record = merge_record(base, adapter)
    marker = out / MERGE_RECORD
    if (out / "config.json").is_file() and marker.is_file():
        try:
            if json.loads(marker.read_text()) == record:
                return MergeResult(out, record, reused=True)
        except ValueError:
            pass  # a damaged record: merge again

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base)), str(adapter))
        model.merge_and_unload().save_pretrained(str(tmp))
        has_tokenizer = (adapter / "tokenizer_config.json").is_file()
        AutoTokenizer.from_pretrained(str(adapter if has_tokenizer else base)).save_pretrained(str(tmp))
        (tmp / MERGE_RECORD).write_text(json.dumps(record, indent=1))
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return MergeResult(out, record, reused=False)
