"""Log parsers: names, SWE-bench's reading of test names, parity with swebench."""

from __future__ import annotations

import importlib.util

import pytest

from swe_srl.errors import SweSrlError
from swe_srl import testsuite as lp

from .logs import ALL, DJANGO_BODY, MATPLOTLIB_BODY, PYTEST_BODY

HAS_SWEBENCH = importlib.util.find_spec("swebench") is not None


@pytest.mark.parametrize("name,expected", [
    ("pytest", "pytest"), ("parse_log_pytest", "pytest"), ("pytest_options", "pytest_options"),
    ("parse_log_requests", "pytest_options"), ("requests", "pytest_options"), ("parse_log_astropy", "pytest_v2"),
    ("parse_log_flask", "pytest"), ("django", "django"), ("parse_log_django", "django"), ("sympy", "sympy"),
    ("parse_log_matplotlib", "matplotlib"), ("seaborn", "seaborn"), ("psf/requests", "pytest_options"),
    ("django/django", "django"),
])
def test_every_spelling_of_a_parser_name_is_accepted(name, expected):
    assert lp.canonical_name(name) == expected


def test_unknown_parser_name_lists_the_valid_names():
    with pytest.raises(SweSrlError, match="valid names:.*parse_log_requests"):
        lp.status_map_parser("parse_log_nonsense")


def test_parametrized_names_with_spaces_are_cut_like_swebench():
    status = lp.parse_pytest(PYTEST_BODY)
    assert status["tests/test_a.py::test_param[a"] == "PASSED"
    assert "tests/test_a.py::test_param[a b]" not in status


def test_failed_message_never_joins_the_test_name():
    status = lp.parse_pytest(PYTEST_BODY)
    assert status["tests/test_a.py::test_sub"] == "FAILED"
    assert status["tests/test_a.py::test_msg"] == "FAILED"
    assert status["tests/test_a.py::test_fixture_error"] == "ERROR"


def test_skip_summary_count_is_not_a_test():
    status = lp.parse_pytest(PYTEST_BODY)
    assert "[1]" not in status
    assert status["tests/test_a.py::test_skipped"] == "SKIPPED"


def test_pytest_options_rewrites_path_ids_but_leaves_double_slash_and_globs():
    status = lp.parse_pytest_options(PYTEST_BODY)
    assert status["tests/test_a.py::test_path[/data.txt]"] == "PASSED"
    assert status["tests/test_a.py::test_url[//example.com/x/y]"] == "PASSED"
    assert status["tests/test_a.py::test_glob[/tmp/*/x]"] == "PASSED"


def test_django_results_printed_after_output_still_count():
    status = lp.parse_django(DJANGO_BODY)
    assert status["test_e (admin.tests.AdminTests)"] == "PASSED"
    assert status["test_b (admin.tests.AdminTests)"] == "FAILED"
    assert status["test_c (admin.tests.AdminTests)"] == "ERROR"
    assert status["test_d (admin.tests.AdminTests)"] == "SKIPPED"


def test_matplotlib_mouse_buttons_become_numbers():
    status = lp.parse_matplotlib(MATPLOTLIB_BODY)
    assert status == {"lib/matplotlib/tests/test_widgets.py::test_span[1-1]": "PASSED",
                      "lib/matplotlib/tests/test_widgets.py::test_span[3-3]": "FAILED"}


@pytest.mark.skipif(not HAS_SWEBENCH, reason="swebench (dev extra) not installed")
@pytest.mark.parametrize("name", sorted(ALL))
def test_parsers_match_swebench_exactly(name):
    from swebench.harness.log_parsers import PARSER_REGISTRY

    ours = lp.status_map_parser(name)
    for body in ALL.values():  # every parser on every log, not only its own
        assert ours(body) == PARSER_REGISTRY[name](body, None), (name, body[:60])


@pytest.mark.skipif(not HAS_SWEBENCH, reason="swebench (dev extra) not installed")
def test_every_python_parser_name_of_swebench_is_registered_here():
    from swebench.harness.log_parsers import PARSER_REGISTRY
    from swebench.harness.log_parsers.python import MAP_REPO_TO_PARSER_PY

    python_names = {n for n, f in PARSER_REGISTRY.items() if f.__module__.endswith(".python")}
    for n in python_names:
        assert lp.status_map_parser(n)(PYTEST_BODY) == PARSER_REGISTRY[n](PYTEST_BODY, None)
    for repo, fn in MAP_REPO_TO_PARSER_PY.items():
        assert lp.status_map_parser(repo)(DJANGO_BODY + "\n" + PYTEST_BODY) == fn(DJANGO_BODY + "\n" + PYTEST_BODY, None)
