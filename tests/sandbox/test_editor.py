"""str_replace_editor inside the container behaves like the SWE-agent / Anthropic tool the
expert logs were recorded with (messages and numbering), on its edge cases."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker


def ed(sb, **args):
    return sb.editor(args)


@pytest.fixture
def f(sb):
    return f"{sb.workdir}/calc/__init__.py"


def test_view_file_is_cat_n(sb, f):
    r = ed(sb, command="view", path=f)
    assert r.exit_code == 0
    assert r.output == (f"Here's the result of running `cat -n` on {f}:\n"
                        "     1\tdef add(a, b):\n     2\t    return a + b\n     3\t\n")


def test_view_range_and_its_errors(sb, f):
    r = ed(sb, command="view", path=f, view_range=[2, 2])
    assert r.output.endswith("     2\t    return a + b\n")
    assert ed(sb, command="view", path=f, view_range=[2, -1]).exit_code == 0
    r = ed(sb, command="view", path=f, view_range=[0, 2])
    assert r.exit_code != 0 and "Its first element `0` should be within the range of lines of the file: [1, 3]" in r.output
    r = ed(sb, command="view", path=f, view_range=[1, 9])
    assert "should be smaller than the number of lines in the file: `3`" in r.output


def test_view_directory_two_levels_without_hidden(sb):
    sb.run("mkdir -p deep/a/b/c && touch deep/a/b/c/x.py .hidden_file")
    r = ed(sb, command="view", path=sb.workdir)
    assert r.output.startswith(f"Here's the files and directories up to 2 levels deep in {sb.workdir}, "
                               "excluding hidden items:\n")
    listed = set(r.output.splitlines()[1:])
    assert f"{sb.workdir}/calc/__init__.py" in listed and f"{sb.workdir}/deep/a" in listed
    assert f"{sb.workdir}/deep/a/b" not in listed
    assert not any(".git" in p or ".hidden" in p for p in listed)
    assert "view_range` parameter is not allowed" in ed(sb, command="view", path=sb.workdir, view_range=[1, 2]).output


def test_create_refuses_an_existing_file(sb, f):
    r = ed(sb, command="create", path=f, file_text="x")
    assert r.exit_code != 0
    assert r.output == f"File already exists at: {f}. Cannot overwrite files using command `create`."
    new = f"{sb.workdir}/pkg/new.py"
    r = ed(sb, command="create", path=new, file_text="x = 1\n")
    assert "The parent directory" in r.output and r.exit_code != 0
    new = f"{sb.workdir}/new.py"
    assert ed(sb, command="create", path=new, file_text="x = 1\n").output == f"File created successfully at: {new}"
    assert sb.read_file("new.py") == b"x = 1\n"


def test_str_replace_requires_exactly_one_match(sb, f):
    r = ed(sb, command="str_replace", path=f, old_str="nope", new_str="x")
    assert r.exit_code != 0
    assert r.output == f"No replacement was performed, old_str `nope` did not appear verbatim in {f}."
    sb.write_file(f, "a = 1\nb = 1\nc = 2\n")
    r = ed(sb, command="str_replace", path=f, old_str="= 1", new_str="= 3")
    assert r.output == ("No replacement was performed. Multiple occurrences of old_str `= 1` in lines [1, 2]. "
                        "Please ensure it is unique")
    assert sb.read_file(f) == b"a = 1\nb = 1\nc = 2\n"


def test_str_replace_multiline_and_snippet(sb, f):
    r = ed(sb, command="str_replace", path=f, old_str="def add(a, b):\n    return a + b",
           new_str="def add(a, b):\n    # sum\n    return a + b")
    assert r.exit_code == 0
    assert r.output == (f"The file {f} has been edited. Here's the result of running `cat -n` on a snippet of {f}:\n"
                        "     1\tdef add(a, b):\n     2\t    # sum\n     3\t    return a + b\n"
                        "Review the changes and make sure they are as expected. Edit the file again if necessary.")
    assert sb.read_file(f) == b"def add(a, b):\n    # sum\n    return a + b\n"


def test_trailing_newline_is_kept_and_empty_new_str_deletes(sb, f):
    ed(sb, command="str_replace", path=f, old_str="    return a + b\n", new_str="")
    assert sb.read_file(f) == b"def add(a, b):\n"
    sb.write_file("nonl.txt", "x\ny")
    ed(sb, command="str_replace", path=f"{sb.workdir}/nonl.txt", old_str="y", new_str="z")
    assert sb.read_file("nonl.txt") == b"x\nz"


def test_tabs(sb):
    path = f"{sb.workdir}/Makefile"
    sb.write_file("Makefile", "all:\n\techo hi\n")
    # exact match with a tab keeps the file's tabs
    r = ed(sb, command="str_replace", path=path, old_str="\techo hi", new_str="\techo bye")
    assert r.exit_code == 0 and sb.read_file("Makefile") == b"all:\n\techo bye\n"
    assert "     2\t        echo bye" in r.output  # shown with tabs expanded, as the tool does
    # the expert saw expanded tabs: old_str with spaces still matches (the tool expands tabs)
    r = ed(sb, command="str_replace", path=path, old_str="        echo bye", new_str="        echo ok")
    assert r.exit_code == 0 and sb.read_file("Makefile") == b"all:\n        echo ok\n"


def test_non_utf8_file_keeps_its_bytes(sb):
    sb.write_file("latin.txt", "caf\xe9 = 1\nname = 'x'\n".encode("latin-1"))
    path = f"{sb.workdir}/latin.txt"
    assert "caf\xe9 = 1" in ed(sb, command="view", path=path).output
    r = ed(sb, command="str_replace", path=path, old_str="'x'", new_str="'y'")
    assert r.exit_code == 0
    assert sb.read_file("latin.txt") == "caf\xe9 = 1\nname = 'y'\n".encode("latin-1")


def test_insert_after_line_and_bounds(sb, f):
    r = ed(sb, command="insert", path=f, insert_line=1, new_str="    '''Add.'''")
    assert r.exit_code == 0 and "a snippet of the edited file" in r.output
    assert sb.read_file(f) == b"def add(a, b):\n    '''Add.'''\n    return a + b\n"
    ed(sb, command="insert", path=f, insert_line=0, new_str="# head")
    assert sb.read_file(f).startswith(b"# head\ndef add")
    r = ed(sb, command="insert", path=f, insert_line=99, new_str="x")
    assert r.exit_code != 0
    assert r.output == "Invalid `insert_line` parameter: 99. It should be within the range of lines of the file: [0, 5]"


def test_undo_edit(sb, f):
    before = sb.read_file(f)
    ed(sb, command="str_replace", path=f, old_str="a + b", new_str="a - b")
    ed(sb, command="insert", path=f, insert_line=0, new_str="# x")
    assert ed(sb, command="undo_edit", path=f).output.startswith(f"Last edit to {f} undone successfully.")
    assert b"a - b" in sb.read_file(f) and not sb.read_file(f).startswith(b"# x")
    ed(sb, command="undo_edit", path=f)
    assert sb.read_file(f) == before
    r = ed(sb, command="undo_edit", path=f)
    assert r.exit_code != 0 and r.output == f"No edit history found for {f}."


def test_path_errors(sb):
    r = ed(sb, command="view", path="calc/__init__.py")
    assert r.output == (f"The path calc/__init__.py is not an absolute path, it should start with `/`. "
                        f"Maybe you meant {sb.workdir}/calc/__init__.py?")
    r = ed(sb, command="view", path="/nope/x.py")
    assert r.output == "The path /nope/x.py does not exist. Please provide a valid path."
    r = ed(sb, command="str_replace", path=sb.workdir, old_str="a", new_str="b")
    assert "is a directory and only the `view` command can be used on directories" in r.output
    r = ed(sb, command="frobnicate", path=sb.workdir)
    assert r.exit_code != 0 and "Unrecognized command frobnicate" in r.output
    r = ed(sb, command="view", path="/etc/shadow")
    assert r.exit_code != 0  # the unprivileged user cannot read it: an error observation, no crash


def test_crlf_file_is_edited_with_lf_strings_and_keeps_crlf(sb):
    sb.write_file("win.txt", b"one\r\ntwo\r\nthree\r\n")
    path = f"{sb.workdir}/win.txt"
    assert "     2\ttwo\n" in ed(sb, command="view", path=path).output
    r = ed(sb, command="str_replace", path=path, old_str="one\ntwo", new_str="one\n2")
    assert r.exit_code == 0 and sb.read_file("win.txt") == b"one\r\n2\r\nthree\r\n"
    ed(sb, command="insert", path=path, insert_line=3, new_str="four")
    assert sb.read_file("win.txt") == b"one\r\n2\r\nthree\r\nfour\r\n"
    ed(sb, command="undo_edit", path=path)
    assert sb.read_file("win.txt") == b"one\r\n2\r\nthree\r\n"


def test_insert_keeps_the_files_tabs(sb):
    sb.write_file("Makefile", "all:\n\techo hi\n")
    ed(sb, command="insert", path=f"{sb.workdir}/Makefile", insert_line=2, new_str="\techo two")
    assert sb.read_file("Makefile") == b"all:\n\techo hi\n\techo two\n"

