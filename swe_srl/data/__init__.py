"""Canonical trajectories -> step-wise SRL / SFT datasets.

* :mod:`swe_srl.data.prompts`: the one prompt contract: :class:`PromptConfig`
  and :func:`fit_prompt` (the prompt for the next step, fitted to a token
  budget), used by ``swe-srl dataset``, the agent, greedy validation and
  ``swe-srl score``; :func:`prompt_config_for_model` finds the PromptConfig a
  trained model was trained with.
* :mod:`swe_srl.data.build`: ``swe-srl dataset`` (rows, filters, token budget,
  split by trajectory, save). It imports ``datasets`` only when saving.
"""

from swe_srl.data.prompts import (
    DEFAULT_PROMPT_CONFIG,
    SYSTEM_PROMPT,
    FittedPrompt,
    PromptConfig,
    build_prompt,
    fit_prompt,
    format_completion,
    prompt_config_for_model,
)

__all__ = ["DEFAULT_PROMPT_CONFIG", "SYSTEM_PROMPT", "FittedPrompt", "PromptConfig", "build_prompt", "fit_prompt",
           "format_completion", "prompt_config_for_model"]
