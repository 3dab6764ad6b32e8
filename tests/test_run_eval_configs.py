"""`swe-srl run` and `swe-srl eval` configs: pydantic models on the common base."""

from __future__ import annotations

import pytest

from swe_srl.agent.runner import RunConfig
from swe_srl.errors import ConfigError
from swe_srl.harness.run import TEST_RUN_CPUS, TEST_RUN_MEMORY, EvalConfig


@pytest.mark.parametrize("cls, given", [(RunConfig, {}), (EvalConfig, {"run_id": "r"})])
def test_an_unknown_key_is_one_line_naming_it(cls, given):
    with pytest.raises(ConfigError, match=r"workes: unknown key; valid: .*did you mean workers\?$"):
        cls.from_dict({**given, "workes": 2}, "c.yaml")
    assert all(f.description for f in cls.model_fields.values()), cls


def test_values_are_checked_and_the_flags_named():
    with pytest.raises(ConfigError, match="^swe-srl run: --mode: expected one of agent, oracle-edit, got 'chat'$"):
        RunConfig.from_dict({"mode": "chat"}, "swe-srl run", names={"mode": "--mode"})
    with pytest.raises(ConfigError, match="^EvalConfig: run_id: required$"):
        EvalConfig()
    with pytest.raises(ConfigError, match="timeout"):
        EvalConfig(run_id="r", timeout=0)


def test_defaults_as_before():
    assert RunConfig().model_dump() == {"mode": "agent", "workers": 1, "model_name": None, "repos_dir": None,
                                        "specs_dir": None, "sandbox": {}, "validate_replay": True}
    c = EvalConfig(run_id="r", specs_dir="specs")
    assert (c.timeout, c.workers, c.cpus, c.memory, c.pull, c.strict) == (1800.0, 1, 1.0, "4g", None, True)
    assert str(c.specs_dir) == "specs" and c.model_copy(update={"workers": 2}).workers == 2
    # what the task runner reserves per test run is what a test run gets
    assert (TEST_RUN_CPUS, TEST_RUN_MEMORY) == (c.cpus, c.memory)
