"""Canonical trajectories -> step-wise SRL / SFT datasets.

* :mod:`swe_srl.data.prompts`: the step-wise prompt (:func:`build_prompt`,
  :data:`SYSTEM_PROMPT`), shared with the agent at test time.
* :mod:`swe_srl.data.build`: ``swe-srl dataset`` (rows, filters, token budget,
  split by trajectory, save). It imports ``datasets`` only when saving.
"""

from swe_srl.data.prompts import SYSTEM_PROMPT, build_prompt, format_completion

__all__ = ["SYSTEM_PROMPT", "build_prompt", "format_completion"]
