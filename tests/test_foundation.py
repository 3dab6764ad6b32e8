import subprocess
import sys

from swe_srl.trajectories import Action
from swe_srl.trajectories.render import find_function_calls, render_action


def test_import_is_light_and_side_effect_free(tmp_path):
    code = (
        "import sys, swe_srl, swe_srl.trajectories, swe_srl.cli;"
        "heavy=[m for m in ('torch','transformers','trl','docker','datasets') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    assert list(tmp_path.iterdir()) == []


def test_cli_help_lists_every_contract_command():
    out = subprocess.run([sys.executable, "-m", "swe_srl", "--help"], capture_output=True, text=True, check=True)
    for cmd in ["convert", "dataset", "model", "train", "sandbox", "tasks", "run", "eval"]:
        assert cmd in out.stdout


def test_render_is_deterministic_and_ordered():
    a = Action("str_replace_editor", {"new_str": "b\r\n", "path": "/x.py", "old_str": "a", "command": "str_replace"})
    assert a.render() == (
        "<function=str_replace_editor>\n<parameter=command>str_replace</parameter>\n"
        "<parameter=path>/x.py</parameter>\n<parameter=old_str>a</parameter>\n"
        "<parameter=new_str>b\n</parameter>\n</function>"
    )
    assert render_action("submit", {}) == "<function=submit>\n</function>"


def test_function_call_roundtrip_and_tolerance():
    text = render_action("bash", {"command": "ls -la\necho 'x < y'"})
    [(name, params, _)] = find_function_calls("thinking...\n" + text)
    assert name == "bash" and params == {"command": "ls -la\necho 'x < y'"}
    # missing closing tags at the end of a response
    [(name, params, _)] = find_function_calls("<function=bash>\n<parameter=command>pwd")
    assert (name, params) == ("bash", {"command": "pwd"})
    # multi-line layout drops the layout newlines only
    [(_, params, _)] = find_function_calls("<function=bash>\n<parameter=command>\nls\n</parameter>\n</function>")
    assert params == {"command": "ls"}


def test_values_with_leading_newlines_roundtrip():
    for value in ["\nabc", "\nabc\n", "\n", "\n\nx\n\n", "plain\n", "a\nb"]:
        text = render_action("str_replace_editor", {"command": "str_replace", "path": "/a", "old_str": value, "new_str": "y"})
        [(_, params, _)] = find_function_calls(text)
        assert params["old_str"] == value, repr(value)


def test_atomic_outputs_are_readable_by_others_and_leave_no_temp_files(tmp_path):
    import os
    import stat

    from swe_srl.io import atomic_open, write_json

    write_json(tmp_path / "a.json", {"x": 1})
    assert os.stat(tmp_path / "a.json").st_mode & stat.S_IROTH
    try:
        with atomic_open(tmp_path / "b.txt") as fh:
            fh.write("partial")
            raise RuntimeError("interrupted")
    except RuntimeError:
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
