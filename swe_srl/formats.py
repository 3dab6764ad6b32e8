"""Every output the project writes: its file name and its format tag, named once.

Each saved JSON output carries ``"format": <tag>`` (and the package version),
so a reader (``swe-srl report``, ``convert``'s canonical-input detection, a
resumed run) tells outputs apart by their tag, not by guessing from keys or
folder names. Tags follow one scheme, ``swe-srl.<what>/v<N>``; a tag an older
version wrote is listed in ``legacy`` and still read.

``report.json`` is the name of three different outputs, kept because users and
SWE-bench tools expect those names: ``swe-srl convert``'s report
(:data:`CONVERT_REPORT`), ``swe-srl eval``'s run report (:data:`EVAL_RUN`, with
SWE-bench's run-report keys) and each instance's verdict inside an eval folder
(:data:`EVAL_INSTANCE`, SWE-bench's per-instance shape, untagged). Code names
them by these constants, never by the bare file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Format", "ALL", "by_tag",
    "TRAJECTORY", "CONVERT_REPORT", "DATASET_STATS", "TRAIN_CONFIG", "TRAIN_SUMMARY", "TRAIN_METRICS",
    "PROMPT_CONFIG", "SCORE", "MODEL_IMPORT", "RUN_SUMMARY", "RUN_PREDICTIONS", "RUN_TRAJECTORIES",
    "REPLAY_REPORT", "EVAL_RUN", "EVAL_INSTANCE", "TASK_VALIDATION", "SYNTHESIS_STATS", "TASK_SPECS",
]


@dataclass(frozen=True)
class Format:
    """One kind of output: the file it is written to and the tag it carries."""

    name: str
    """What it is, for people (``swe-srl run`` summary)."""
    file: str | None
    """Its file name inside the output folder; None when the user names the file."""
    tag: str | None
    """The ``format`` value written into it; None for files whose shape is fixed by others
    (SWE-bench's per-instance report, JSONL records, YAML)."""
    legacy: tuple[str, ...] = ()
    """Tags older versions wrote for the same output, still read."""

    @property
    def tags(self) -> tuple[str, ...]:
        return ((self.tag,) if self.tag else ()) + self.legacy

    def matches(self, obj: Any) -> bool:
        """Whether the JSON object ``obj`` carries this format's tag (current or legacy).

        >>> EVAL_RUN.matches({"format": "swe-srl/eval-run/1"}), EVAL_RUN.matches({"resolved_ids": []})
        (True, False)
        """
        return isinstance(obj, dict) and self.tag is not None and obj.get("format") in self.tags


# -- the stages, in pipeline order ----------------------------------------------------------------

TRAJECTORY = Format("canonical trajectory (one per JSONL line)", "trajectories.jsonl", "swe-srl.trajectory/v1")
CONVERT_REPORT = Format("swe-srl convert report", "report.json", "swe-srl.convert-report/v1")
DATASET_STATS = Format("swe-srl dataset statistics", "stats.json", "swe-srl.dataset/v1")
PROMPT_CONFIG = Format("prompt config a model was trained with", "prompt_config.json", None)
TRAIN_CONFIG = Format("training config as run", "config.yaml", "swe-srl.train/v1")
TRAIN_SUMMARY = Format("training summary", "summary.json", "swe-srl.train/v1")
TRAIN_METRICS = Format("training metrics (one record per log step)", "metrics.jsonl", None)
SCORE = Format("swe-srl score result", None, "swe-srl.score/v1")
MODEL_IMPORT = Format("swe-srl model import record", "swe_srl_import.json", "swe-srl.model-import/v1")
RUN_SUMMARY = Format("swe-srl run summary", "summary.json", "swe-srl.run-summary/v1")
RUN_PREDICTIONS = Format("SWE-bench predictions", "predictions.jsonl", None)
RUN_TRAJECTORIES = Format("the agent's trajectories", "trajectories.jsonl", "swe-srl.trajectory/v1")
REPLAY_REPORT = Format("replay check against the recorded patches", "replay_report.json", "swe-srl.replay-report/v1")
EVAL_RUN = Format("swe-srl eval run report (SWE-bench's run-report keys)", "report.json", "swe-srl.eval-run/v1",
                  legacy=("swe-srl/eval-run/1",))
EVAL_INSTANCE = Format("one instance's verdict (SWE-bench's per-instance report)", "report.json", None)
TASK_VALIDATION = Format("swe-srl tasks validate result", "validation.json", "swe-srl.validation/v1",
                         legacy=("swe-srl/validation/1",))
SYNTHESIS_STATS = Format("swe-srl tasks synthesize statistics", None, "swe-srl.synthesis-stats/v1",
                         legacy=("swe-srl/synthesis-stats/1",))
TASK_SPECS = Format("swe-srl tasks specs: the environment of each row", None, "swe-srl.specs/v1",
                    legacy=("swe-srl/specs/1",))

ALL: tuple[Format, ...] = (
    TRAJECTORY, CONVERT_REPORT, DATASET_STATS, PROMPT_CONFIG, TRAIN_SUMMARY, TRAIN_CONFIG, TRAIN_METRICS, SCORE,
    MODEL_IMPORT, RUN_SUMMARY, RUN_PREDICTIONS, RUN_TRAJECTORIES, REPLAY_REPORT, EVAL_RUN, EVAL_INSTANCE,
    TASK_VALIDATION, SYNTHESIS_STATS, TASK_SPECS,
)


def by_tag(obj: Any) -> Format | None:
    """The format whose tag ``obj`` (a JSON object) carries, or None (untagged or foreign).

    >>> by_tag({"format": "swe-srl.dataset/v1"}).file
    'stats.json'
    """
    if not isinstance(obj, dict):
        return None
    tag = obj.get("format")
    for fmt in ALL:
        if tag in fmt.tags:
            return fmt
    return None
