"""Agent logs -> canonical trajectories (:mod:`models`, :mod:`parsers`, :mod:`convert`)."""

from swe_srl.trajectories.models import CANONICAL_TOOLS, FORMAT_TAG, Action, Step, Trajectory

__all__ = ["Action", "Step", "Trajectory", "CANONICAL_TOOLS", "FORMAT_TAG"]
