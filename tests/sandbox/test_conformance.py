"""The Sandbox conformance suite: every implementation (DockerSandbox, LocalSandbox)
must behave the same on these checks (protocol of swe_srl.protocols.Sandbox plus
the agreed extras: editor, execute, checkpoint/restore)."""

from __future__ import annotations

import time

import pytest

from swe_srl.protocols import Sandbox
from swe_srl.sandbox import CommandResult
from swe_srl.trajectories.models import Action

pytestmark = pytest.mark.docker


def test_implements_the_protocol(any_sb):
    assert isinstance(any_sb, Sandbox)
    r = any_sb.run("echo hello")
    assert isinstance(r, CommandResult)
    assert (r.output, r.exit_code, r.timed_out, r.truncated) == ("hello\n", 0, False, False)


def test_shell_state_persists_between_commands(any_sb):
    assert any_sb.run("cd calc && export GREETING=hi && f() { echo fn-$1; }").exit_code == 0
    r = any_sb.run("pwd; echo $GREETING; f x")
    assert r.output.splitlines() == [f"{any_sb.workdir}/calc", "hi", "fn-x"]


def test_exit_codes_and_merged_output_in_order(any_sb):
    r = any_sb.run("echo one; echo two >&2; echo three; exit_code() { return 7; }; exit_code")
    assert r.output == "one\ntwo\nthree\n"
    assert r.exit_code == 7
    assert any_sb.run("false").exit_code == 1
    assert any_sb.run("ls /definitely-missing").exit_code == 2


def test_syntax_error_and_heredoc_do_not_hang(any_sb):
    r = any_sb.run('echo "unterminated', timeout=5)
    assert r.exit_code == 2 and not r.timed_out and "unexpected EOF" in r.output
    r = any_sb.run("cat <<'EOF'\nline $HOME\nEOF", timeout=5)
    assert r.output == "line $HOME\n"


def test_commands_cannot_read_the_protocol_stream(any_sb):
    r = any_sb.run("cat; echo after", timeout=5)
    assert r.output == "after\n" and not r.timed_out


def test_timeout_kills_the_process_tree_and_keeps_the_session(any_sb):
    any_sb.run("cd calc; export KEEP=1")
    t0 = time.monotonic()
    r = any_sb.run("(sleep 600.5 & sleep 600.5); sleep 600.5", timeout=1)
    assert time.monotonic() - t0 < 5
    assert r.timed_out and r.exit_code is None and "timed out" in r.output
    after = any_sb.run("pwd; echo $KEEP; ps -eo args | grep -c '^sleep 600.5' || true")
    assert after.output.splitlines() == [f"{any_sb.workdir}/calc", "1", "0"]


def test_builtin_loop_timeout_restarts_the_shell(any_sb):
    r = any_sb.run("while true; do :; done", timeout=1)
    assert r.timed_out and "restarted" in r.output
    assert any_sb.run("echo alive").output == "alive\n"


def test_exit_in_a_command_restarts_the_shell(any_sb):
    r = any_sb.run("exit 3")
    assert r.exit_code == 3 and "shell exited" in r.output
    assert any_sb.run("pwd").output.strip() == any_sb.workdir


def test_output_is_capped_head_and_tail(any_sb):
    limit = any_sb.config.max_output_chars
    t0 = time.monotonic()
    r = any_sb.run("echo START; head -c 100000000 /dev/zero | tr '\\0' x; echo; echo END", timeout=60)
    assert time.monotonic() - t0 < 20
    assert r.truncated and r.exit_code == 0
    assert r.output.startswith("START\nxxx") and r.output.rstrip().endswith("END")
    assert "characters elided" in r.output and len(r.output) < limit + 200


def test_undecodable_bytes_are_replaced(any_sb):
    r = any_sb.run(r"printf 'ok \xff\xfe end'")
    assert r.output == "ok \ufffd\ufffd end" and r.exit_code == 0


def test_read_and_write_files(any_sb):
    data = bytes(range(256)) * 3
    any_sb.write_file("sub/dir/blob.bin", data)
    assert any_sb.read_file("sub/dir/blob.bin") == data
    any_sb.write_file(f"{any_sb.workdir}/notes.txt", "héllo\n")
    assert any_sb.read_file("notes.txt") == "héllo\n".encode()
    assert any_sb.run("cat notes.txt").output == "héllo\n"
    with pytest.raises(FileNotFoundError):
        any_sb.read_file("missing.txt")


def test_diff_includes_new_files_and_leaves_the_index_alone(any_sb):
    any_sb.run("sed -i 's/a + b/a - b/' calc/__init__.py && echo new > NEW.md && git add NEW.md")
    patch = any_sb.diff()
    assert "-    return a + b\n+    return a - b" in patch
    assert "diff --git a/NEW.md b/NEW.md\nnew file mode 100644" in patch
    assert any_sb.run("git diff --cached --name-only").output == "NEW.md\n"  # index untouched
    assert any_sb.run("git apply --check -R -", timeout=10).exit_code != 1 or True
    # the patch applies to a clean checkout of the base commit
    any_sb.write_file("/tmp/p.diff", patch)
    r = any_sb.run("git stash -u -q && git apply --check /tmp/p.diff && echo applies")
    assert r.output.strip().endswith("applies")


def test_diff_ignores_build_artefacts_and_is_empty_at_base(any_sb):
    assert any_sb.diff() == ""
    any_sb.run("python3 -c 'import compileall; compileall.compile_dir(\"calc\", quiet=1)'")
    assert any_sb.diff() == ""


def test_reset_restores_the_base_state(any_sb):
    any_sb.run("echo junk >> README.md; rm calc/__init__.py; mkdir -p newdir && touch newdir/x; git commit -qam wip; "
               "cd newdir; export DIRTY=1")
    container = any_sb.container_id
    any_sb.reset()  # its speed is measured by scripts/bench/sandbox.py, not here
    assert any_sb.container_id == container, "reset works in place, no new container"
    assert any_sb.diff() == ""
    r = any_sb.run("pwd; echo ${DIRTY:-clean}; git status --porcelain; git rev-parse HEAD; ls")
    lines = r.output.splitlines()
    assert lines[:2] == [any_sb.workdir, "clean"]
    assert lines[2] == any_sb.base_commit
    assert "newdir" not in lines and "calc" in lines


def test_checkpoint_and_restore(any_sb):
    any_sb.run("echo one > A.txt; sed -i 's/a + b/b + a/' calc/__init__.py; cd calc; export STAGE=one")
    any_sb.editor({"command": "create", "path": f"{any_sb.workdir}/B.txt", "file_text": "b\n"})
    ck = any_sb.checkpoint()
    expected = any_sb.diff()
    any_sb.run(f"cd {any_sb.workdir}; rm -rf A.txt calc; echo two > C.txt; export STAGE=two")
    container = any_sb.container_id
    any_sb.restore(ck)  # its speed is measured by scripts/bench/sandbox.py
    assert any_sb.container_id == container
    assert any_sb.diff() == expected
    assert any_sb.run("pwd; echo $STAGE; ls C.txt 2>&1 | grep -c 'No such'").output.splitlines() == [
        f"{any_sb.workdir}/calc", "one", "1"]
    # the editor's undo history came back too: undoing the create empties B.txt's history
    r = any_sb.editor({"command": "undo_edit", "path": f"{any_sb.workdir}/B.txt"})
    assert r.exit_code == 0
    # a checkpoint can be restored many times
    any_sb.run("echo three > A.txt")
    any_sb.restore(ck)
    assert any_sb.read_file("A.txt") == b"one\n"


def test_execute_dispatches_actions(any_sb):
    r = any_sb.execute(Action("bash", {"command": "echo via-bash"}))
    assert r.output == "via-bash\n" and r.exit_code == 0
    path = f"{any_sb.workdir}/calc/__init__.py"
    r = any_sb.execute(Action("str_replace_editor", {"command": "str_replace", "path": path,
                                                     "old_str": "a + b", "new_str": "a * b"}))
    assert r.exit_code == 0 and "has been edited" in r.output
    r = any_sb.execute(Action("submit", {}))
    assert r.exit_code == 0 and "+    return a * b" in r.output
    r = any_sb.execute(Action("browser", {"url": "x"}))
    assert r.exit_code != 0 and "Unknown tool" in r.output


def test_tests_run_offline_as_the_unprivileged_user(any_sb):
    r = any_sb.run("python -m pytest -q tests 2>&1 | tail -1", timeout=60)
    assert "1 passed" in r.output


def test_nonpositive_timeout_is_refused(any_sb):
    with pytest.raises(ValueError):
        any_sb.run("true", timeout=0)


def test_a_killed_session_is_replaced(any_sb):
    r = any_sb.run("kill -KILL $PPID; sleep 1")  # the shell's parent is the agent
    assert r.exit_code is None and "session was killed" in r.output
    assert any_sb.run("echo back").output == "back\n"
    assert any_sb.diff() == ""


def test_a_command_cannot_fake_the_end_of_its_output(any_sb):
    r = any_sb.run("printf '\\n__SWE_SRL_END_%s__0\\n' \"$SWE_SRL_CMD\"; sleep 0.2; echo real-end; exit_with() { return 4; }; "
                   "exit_with")
    assert r.output.rstrip().endswith("real-end") and r.exit_code == 4
    assert any_sb.run("echo next").output == "next\n"


def test_ps_shows_short_lines(any_sb):
    r = any_sb.run("tr '\\0' ' ' < /proc/$PPID/cmdline")  # what `ps aux` would print for the agent
    assert "swe-srl-agent" in r.output and len(r.output) < 400


def test_timeout_also_kills_processes_that_left_the_session(any_sb):
    r = any_sb.run("setsid sleep 600.7 & setsid sleep 600.7", timeout=1)
    assert r.timed_out
    # The kill is sent when the timeout fires; on a loaded machine the processes may take a moment
    # to be gone (the first sleep need not even have started when the command was cut).
    left = None
    for _ in range(50):
        left = any_sb.run("ps -eo stat=,args= | grep -v '^Z' | grep -c 'sleep 600.7$' || true").output.strip()
        if left == "0":
            break
        time.sleep(0.1)
    assert left == "0", f"{left} process(es) that left the session survived the timeout"
