"""``swe-srl model list``: the models in the user cache and where they came from.

A model is a sub-folder of the models folder (:func:`swe_srl.models.cache.models_dir`)
holding a transformers ``config.json``. Its origin is the import record
``swe-srl model import`` wrote beside it (the GGUF file, its package and
sha256); a folder copied there by hand is listed as such.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swe_srl.models.cache import models_dir
from swe_srl.models.gguf_import import read_import_record

__all__ = ["LocalModel", "list_models"]


@dataclass
class LocalModel:
    name: str
    path: Path
    architecture: str | None
    parameters: int | None
    dtype: str | None
    bytes: int
    source: str  # a one-line description of where it came from
    record: dict[str, Any] | None  # the import record, when the folder has one

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "architecture": self.architecture,
                "parameters": self.parameters, "dtype": self.dtype, "bytes": self.bytes,
                "source": self.source, "import_record": self.record}


def _folder_bytes(folder: Path) -> int:
    total = 0
    for p in folder.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size
        except OSError:
            continue  # removed while we walked; it no longer counts
    return total


def _describe_source(record: dict[str, Any] | None) -> str:
    if record is None:
        return "not imported by swe-srl (no import record)"
    src = record.get("source") or {}
    what = src.get("name") or src.get("file") or "?"
    if src.get("package"):
        version = f"=={src['package_version']}" if src.get("package_version") else ""
        what = f"{what} from package {src['package']}{version}"
    sha = str(src.get("sha256") or "")[:12]
    return f"{what} (sha256 {sha}…)" if sha else what


def _read_config(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def list_models(root: str | os.PathLike | None = None) -> list[LocalModel]:
    """The models under ``root`` (default: the user cache), sorted by name; an
    absent root holds none."""
    base = Path(root) if root is not None else models_dir()
    if not base.is_dir():
        return []
    found: list[LocalModel] = []
    for folder in sorted(base.iterdir()):
        if folder.name.startswith(".") or not (folder / "config.json").is_file():
            continue  # unfinished imports are hidden folders
        record = read_import_record(folder)
        cfg = _read_config(folder)
        archs = cfg.get("architectures")
        found.append(LocalModel(
            name=folder.name,
            path=folder,
            architecture=(record or {}).get("architecture") or (archs[0] if isinstance(archs, list) and archs else None),
            parameters=(record or {}).get("parameters"),
            dtype=(record or {}).get("dtype") or cfg.get("dtype") or cfg.get("torch_dtype"),
            bytes=_folder_bytes(folder),
            source=_describe_source(record),
            record=record,
        ))
    return found
