"""Test logs shared by the grading and parity tests (written here, not copied)."""

from __future__ import annotations

START = ">>>>> Start Test Output"
END = ">>>>> End Test Output"


def wrap(body: str, exit_code: int | None = 0, before: str = "", after: str = "") -> str:
    text = f"{before}{START}\n{body}\n{END}\n"
    if exit_code is not None:
        text += f">>>>> Test Exit Code: {exit_code}\n"
    return text + after


PYTEST_BODY = """============================= test session starts ==============================
collected 9 items

tests/test_a.py ..F.sx                                                  [100%]

=================================== FAILURES ===================================
___________________________________ test_sub ___________________________________
E   assert 1 == 2
=========================== short test summary info ============================
PASSED tests/test_a.py::test_add
PASSED tests/test_a.py::TestK::test_method
PASSED tests/test_a.py::test_param[a b]
PASSED tests/test_a.py::test_path[/tmp/pytest-of-x/pytest-3/test_path0/data.txt]
PASSED tests/test_a.py::test_url[//example.com/x/y]
PASSED tests/test_a.py::test_glob[/tmp/*/x]
XFAIL tests/test_a.py::test_xfail - reason: not yet
SKIPPED [1] tests/test_a.py:40: needs network
SKIPPED tests/test_a.py::test_skipped
ERROR tests/test_a.py::test_fixture_error - RuntimeError: boom
FAILED tests/test_a.py::test_sub - assert 1 == 2
FAILED tests/test_a.py::test_msg - AssertionError: a - b - c
PASSED
==================== 2 failed, 6 passed, 1 skipped in 0.12s ===================="""

PYTEST_V2_BODY = """\x1b[32mPASSED\x1b[0m astropy/tests/test_x.py::test_one
[32mPASSED[0m astropy/tests/test_x.py::test_two[param with space]
FAILED astropy/tests/test_x.py::test_three - ValueError: bad - worse
astropy/tests/test_x.py::test_old PASSED
astropy/tests/test_x.py::test_old_fail FAILED
SKIPPED [2] astropy/tests/test_x.py:3: skip"""

DJANGO_BODY = """test_a (admin.tests.AdminTests) ... ok
test_b (admin.tests.AdminTests) ... FAIL
test_c (admin.tests.AdminTests) ... ERROR
test_d (admin.tests.AdminTests) ... skipped 'no db'
test_e (admin.tests.AdminTests) ... Some printed output
ok
test_f (admin.tests.AdminTests) ...  OK
--version is equivalent to version
test_g (admin.tests.AdminTests) ... System check identified no issues (0 silenced)
ok
======================================================================
FAIL: test_b (admin.tests.AdminTests)
ERROR: test_c (admin.tests.AdminTests)"""

SYMPY_BODY = """test_basic ok
test_fails F
test_errors E
________________________________ sympy/core/tests/test_basic.py:test_fails ________________________________
"""

SEABORN_BODY = """tests/test_core.py::TestA::test_one PASSED [ 10%]
PASSED tests/test_core.py::TestA::test_two
FAILED tests/test_core.py::TestA::test_three - assert x
tests/test_core.py::TestA::test_four FAILED [ 40%]"""

MATPLOTLIB_BODY = """PASSED lib/matplotlib/tests/test_widgets.py::test_span[MouseButton.LEFT-1]
FAILED lib/matplotlib/tests/test_widgets.py::test_span[MouseButton.RIGHT-3] - boom"""

ALL = {
    "parse_log_pytest": PYTEST_BODY,
    "parse_log_pytest_options": PYTEST_BODY,
    "parse_log_pytest_v2": PYTEST_V2_BODY,
    "parse_log_django": DJANGO_BODY,
    "parse_log_sympy": SYMPY_BODY,
    "parse_log_seaborn": SEABORN_BODY,
    "parse_log_matplotlib": MATPLOTLIB_BODY,
}
