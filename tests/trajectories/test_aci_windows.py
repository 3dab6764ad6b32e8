"""SWE-agent 0.x ``edit N:M`` names line numbers, not text: the parsers turn it into
``str_replace_editor str_replace`` from what earlier viewer windows showed of the file
(``aci.observe``), and keep the line-range ``edit`` when those lines were never shown."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from swe_srl.trajectories.parsers import aci

PATH = "/repo/m.py"


def window(lines: dict[int, str], total: int, path: str = PATH) -> str:
    first = min(lines)
    head = f"[File: {path} ({total} lines total)]\n"
    above = f"({first - 1} more lines above)\n" if first > 1 else ""
    body = "\n".join(f"{n}:{lines[n]}" for n in sorted(lines))
    below = total - max(lines)
    return head + above + body + (f"\n({below} more lines below)" if below else "")


def opened(lines: list[str], shown: range | None = None) -> aci.AciState:
    """A state in which ``open`` showed ``shown`` (default: all) of a file made of ``lines``."""
    state = aci.AciState(open_file=PATH)
    shown = shown or range(1, len(lines) + 1)
    view = aci.parse_command(f"open {PATH}", state)
    aci.observe(view, window({n: lines[n - 1] for n in shown}, len(lines)), state)
    return state


def edit(state: aci.AciState, start: int, end: int, replacement: str, observation: str = "File updated."):
    action = aci.parse_command(f"edit {start}:{end}\n{replacement}\nend_of_edit" if replacement
                               else f"edit {start}:{end}\nend_of_edit", state)
    aci.observe(action, observation, state)
    return action


def line_edit(lines: list[str], start: int, end: int, replacement: str) -> list[str]:
    """What SWE-agent's ``edit start:end`` does to a file."""
    return lines[: start - 1] + (replacement.split("\n") if replacement else []) + lines[end:]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "", "  x = 1", "return y"]), min_size=1, max_size=12),
       st.data())
def test_a_converted_edit_does_what_the_line_edit_did(lines, data):
    start = data.draw(st.integers(1, len(lines)))
    end = data.draw(st.integers(start, len(lines)))
    replacement = data.draw(st.sampled_from(["", "z", "a", "b\nnew", "  q\n\nr"]))
    action = edit(opened(lines), start, end, replacement)
    text = "\n".join(lines) + "\n"
    expected = "\n".join(line_edit(lines, start, end, replacement)) + "\n"
    if action.tool == "edit":  # no unique text could name the range (a file of repeated lines)
        assert action.args == {"path": PATH, "start_line": start, "end_line": end, "replacement": replacement}
        return
    args = action.args
    if args["command"] == "insert":  # a file of empty lines only
        assert args["insert_line"] == 0 and not text.strip() and replacement
        return
    assert args["command"] == "str_replace" and args["path"] == PATH
    assert text.count(args["old_str"]) == 1, "str_replace needs exactly one match"
    assert text.replace(args["old_str"], args["new_str"]) == expected


def test_context_is_added_until_the_text_is_unique():
    action = edit(opened(["a", "b", "a", "c"]), 3, 3, "X")
    assert action.args["old_str"] == "b\na\nc" and action.args["new_str"] == "b\nX\nc"


def test_lines_never_shown_keep_the_line_range_edit():
    state = opened([f"line {i}" for i in range(1, 201)], shown=range(1, 101))
    assert edit(state, 150, 151, "new").tool == "edit"
    assert edit(state, 99, 101, "new").tool == "edit"  # one line of the range unseen
    assert edit(state, 10, 11, "new").tool == "str_replace_editor"


def test_a_landed_edit_moves_the_lines_after_it():
    lines = [f"line {i}" for i in range(1, 11)]
    state = opened(lines)
    after = line_edit(lines, 2, 2, "two\nlines")
    # SWE-agent shows only a window around the edit; lines below it moved down by one
    first = edit(state, 2, 2, "two\nlines", observation=window({n: after[n - 1] for n in range(1, 5)}, 11))
    assert first.args["old_str"] == "line 2"
    second = edit(state, 10, 10, "ten")  # was line 9, the viewer's line 10 now
    assert second.args["old_str"] == "line 9" and second.args["new_str"] == "ten"


def test_a_rejected_edit_leaves_the_file_as_the_original_window_shows():
    lines = [f"line {i}" for i in range(1, 6)]
    state = opened(lines)
    rejected = ("Your proposed edit has introduced new syntax error(s). Please read this error message carefully\n\n"
                "This is how your edit would have looked if applied\n-----\n"
                + window({1: "line 1", 2: "bad(", 3: "stuff", 4: "line 3"}, 7) +
                "\n-----\n\nThis is the original code before your edit\n-----\n"
                + window({n: lines[n - 1] for n in range(1, 6)}, 5) +
                "\n-----\nYour changes have NOT been applied. Please fix your edit command and try again.")
    edit(state, 2, 2, "bad(\nstuff", observation=rejected)
    again = edit(state, 2, 2, "good")
    assert again.args["old_str"] == "line 2" and again.args["new_str"] == "good"


def test_shell_commands_that_write_files_forget_what_was_shown():
    state = opened(["a = 1", "b = 2"])
    aci.observe(aci.parse_command("python -m pytest -q 2>&1 | tail -3", state), "1 passed", state)
    assert edit(state, 1, 1, "a = 3").tool == "str_replace_editor"  # reading commands keep the windows
    aci.observe(aci.parse_command("sed -i 's/b/c/' m.py", state), "", state)
    assert edit(state, 2, 2, "b = 4").tool == "edit"


def test_an_edit_of_a_just_created_file_writes_its_content():
    state = aci.AciState(cwd="/repo")
    create = aci.parse_command("create new.py", state)
    aci.track(create, state)
    aci.observe(create, "[File: /repo/new.py (1 lines total)]\n1:", state)
    action = edit(state, 1, 1, "print('hi')")
    assert action.args == {"command": "insert", "path": "/repo/new.py", "insert_line": 0, "new_str": "print('hi')"}
