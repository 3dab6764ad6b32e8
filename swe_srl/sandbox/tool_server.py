"""The in-container tool server of a sandbox (standard library only, Python >= 3.6).

(Not the agent: the agent is the policy loop in :mod:`swe_srl.agent.loop`; this
server only executes what it is sent.)

The host starts it once per container with ``docker exec -i ... python3 -c
<this source>`` and talks to it over stdin/stdout: one JSON request per line
in, one JSON response per line out. It owns one persistent ``bash`` process
(cwd, variables and functions survive between commands) and runs, beside it,
the tools that must see the container's file system: ``str_replace_editor``,
file reads/writes, the git snapshot operations behind ``diff``, ``reset``,
``checkpoint`` and ``restore``.

Design choices:
- a command is sent to bash as an ANSI-C quoted string run by ``eval`` with
  stdin from /dev/null, followed by ``printf`` of a per-command random end
  marker and ``$?``; a syntax error cannot swallow the marker, and the command
  cannot read the protocol stream;
- stdout and stderr of bash are one pipe, so the output keeps its order; the
  server keeps only a head and a tail of it (a 100 MB flood costs one pass of
  reads, never memory);
- bash is a session leader; on timeout every process of that session (and any
  process that inherited this command's ``SWE_SRL_CMD`` marker, e.g. after
  ``setsid``) is killed in a loop until none is left, so the shell survives;
  in a container (``contained``, never on a host) every other process of the
  sandbox user goes too, so ``env -i setsid nohup ... &`` cannot outlive a
  timeout or a reset;
  a shell stuck in a builtin loop is restarted (its state is lost, and the
  output says so);
- bash runs with ``oom_score_adj`` 1000, so the kernel's OOM killer picks a
  memory hog before the server;
- when stdin closes without a ``bye`` request (the host process died), the
  server creates the container's stop file (its root-owned main process waits
  for it), so a container does not outlive its owner.
"""

import base64
import json
import os
import re
import select
import signal
import subprocess
import sys
import time

TRUNCATED_MESSAGE = (
    "<response clipped><NOTE>To save on context only part of this file has been shown to you. "
    "You should retry this tool after you have searched inside the file with `grep -n` in order to "
    "find the line numbers of what you are looking for.</NOTE>"
)
MAX_RESPONSE_LEN = 16000
SNIPPET_LINES = 4
ELIDED = "\n<<< {n} characters elided >>>\n"
SHELL_ENV = {
    "PAGER": "cat", "MANPAGER": "cat", "GIT_PAGER": "cat", "LESS": "-R", "PIP_PROGRESS_BAR": "off",
    "TQDM_DISABLE": "1", "PYTHONIOENCODING": "utf-8", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "dumb",
}


class ToolError(Exception):
    def __init__(self, message, code=1):
        Exception.__init__(self, message)
        self.message = message
        self.code = code


def ansi_c_quote(text):
    """``$'...'`` quoting of arbitrary text (bash reads it back byte for byte)."""
    out = []
    for b in text.encode("utf-8", "surrogateescape"):
        c = chr(b)
        if b == 0:
            continue
        if 32 <= b < 127 and c not in "\\'":
            out.append(c)
        else:
            out.append("\\x%02x" % b)
    return "$'" + "".join(out) + "'"


def read_stat(pid):
    """(ppid, pgid, sid) of a live process, or None when it is gone or a zombie."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as fh:
            data = fh.read()
    except (OSError, IOError):
        return None
    fields = data[data.rfind(b")") + 2:].split()
    if fields[:1] in ([b"Z"], [b"X"]):
        return None
    try:
        return int(fields[1]), int(fields[2]), int(fields[3])
    except (IndexError, ValueError):
        return None


def has_marker(pid, marker):
    try:
        with open("/proc/%d/environ" % pid, "rb") as fh:
            env = fh.read()
    except (OSError, IOError):
        return False
    return marker in env.split(b"\0")


def real_uid(pid):
    """The real uid of a live process (from /proc/<pid>/status, which stays
    readable when the process made itself non-dumpable), or None."""
    try:
        with open("/proc/%d/status" % pid, "rb") as fh:
            for line in fh:
                if line.startswith(b"Uid:"):
                    return int(line.split()[1])
    except (OSError, IOError, ValueError, IndexError):
        return None
    return None


def all_pids():
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            out.append(int(name))
    return out


class Shell(object):
    """A persistent bash process with merged output and tree-killing timeouts."""

    def __init__(self, workdir, env, contained=False):
        self.workdir = workdir
        self.env = env
        # every process of our (non-root) user is fair game on a timeout or reset
        self.whole_user = bool(contained) and os.getuid() != 0
        self.proc = None
        self.fd = None
        self.seq = 0
        self.start()

    def start(self):
        rfd, wfd = os.pipe()

        def setup():
            try:
                with open("/proc/self/oom_score_adj", "w") as fh:
                    fh.write("1000")
            except (OSError, IOError):
                pass

        cwd = self.workdir if os.path.isdir(self.workdir) else "/"
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE, stdout=wfd, stderr=wfd, cwd=cwd,
            env=self.env, preexec_fn=setup, start_new_session=True, close_fds=True,
        )
        os.close(wfd)
        if self.fd is not None:
            os.close(self.fd)
        self.fd = rfd

    def stop(self):
        if self.proc is None:
            return
        self.kill_session(None, include_shell=True)
        try:
            self.proc.stdin.close()
        except (OSError, IOError):
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def kill_session(self, cmd_marker, include_shell=False):
        """SIGKILL every process of the shell's session (and marked ones; in a
        container, every process of our user) until none is left."""
        shell_pid = self.proc.pid
        me = os.getpid()
        uid = os.getuid()
        killed = 0
        for _ in range(200):
            victims = []
            for pid in all_pids():
                if pid in (me, 1) or (pid == shell_pid and not include_shell):
                    continue
                st = read_stat(pid)
                if st is None:
                    continue
                if st[2] == shell_pid or (cmd_marker is not None and has_marker(pid, cmd_marker)) \
                        or (self.whole_user and real_uid(pid) == uid):
                    victims.append(pid)
            if not victims:
                break
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except OSError:
                    pass
            time.sleep(0.002)
        return killed

    def run(self, command, timeout, max_chars):
        self.seq += 1
        # Two secrets: the end marker is never visible to the command (so it cannot fake it), the
        # environment marker tags every process the command starts (so a timeout finds them).
        token = base64.b16encode(os.urandom(8)).decode().lower()
        end = ("__SWE_SRL_END_%s__" % base64.b16encode(os.urandom(8)).decode().lower()).encode()
        marker_env = "SWE_SRL_CMD=%s" % token
        script = "export SWE_SRL_CMD=%s\neval %s </dev/null\nprintf '\\n%s%%s\\n' \"$?\"\n" % (
            token, ansi_c_quote(command), end.decode())
        start = time.time()
        try:
            self.proc.stdin.write(script.encode())
            self.proc.stdin.flush()
        except (OSError, IOError):
            self.restart()
            return {"output": "The shell had exited; it was restarted (its state was lost). Run the command again.",
                    "exit_code": None, "timed_out": False, "truncated": False, "duration_s": 0.0}
        # Bytes: a head, a tail, and how many were dropped between them.
        limit = max(256, max_chars * 2)
        head = bytearray()
        tail = bytearray()
        dropped = [0]
        keep_tail = limit
        deadline = start + timeout if timeout and timeout > 0 else None
        timed_out = False
        shell_died = False
        exit_code = None
        note = ""
        rx = re.compile(b"\n" + re.escape(end) + b"(\\d+)\n")
        window = len(end) + 40
        carry = b""

        def store(data):
            if len(head) < limit:
                take = limit - len(head)
                head.extend(data[:take])
                data = data[take:]
            if data:
                tail.extend(data)
                if len(tail) > keep_tail:
                    cut = len(tail) - keep_tail
                    dropped[0] += cut
                    del tail[:cut]

        def unstore(n):
            k = min(n, len(tail))
            if k:
                del tail[len(tail) - k:]
            if n - k:
                del head[len(head) - (n - k):]

        while True:
            wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.time()))
            ready, _, _ = select.select([self.fd], [], [], wait)
            if not ready:
                if self.proc.poll() is not None:
                    shell_died = True  # `exit` while a background job holds the pipe open
                    break
                if deadline is None or time.time() < deadline:
                    continue
                if timed_out:
                    # Killing the children did not free the shell (a builtin loop): restart it.
                    self.restart()
                    note = "\nThe shell was stuck and has been restarted; its state (cwd, variables) was lost."
                    break
                timed_out = True
                self.kill_session(marker_env.encode())
                deadline = time.time() + 0.5
                continue
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                shell_died = True
                break
            joined = carry + chunk
            m = rx.search(joined)
            if m:
                exit_code = int(m.group(1))
                before = m.start() - len(carry)
                if before >= 0:
                    store(chunk[:before])
                else:
                    unstore(-before)
                break
            store(chunk)
            carry = joined[-window:]
        if shell_died:
            code = self.proc.wait()
            exit_code = code if code >= 0 else 128 - code
            note = "\nThe shell exited (exit code %d); a new one was started, its state (cwd, variables) was lost." % exit_code
            self.start()
        if timed_out:
            exit_code = None
            note = "\nThe command timed out after %gs and was killed." % timeout + note
        text, truncated = compose(head, tail, dropped[0], max_chars)
        return {"output": text + note, "exit_code": exit_code, "timed_out": timed_out, "truncated": truncated,
                "duration_s": time.time() - start}


def compose(head, tail, dropped, max_chars):
    """Decode head and tail (undecodable bytes replaced) and cap the text head-and-tail."""
    if not tail:
        text = bytes(head).decode("utf-8", "replace")
        extra = 0
    elif not dropped:
        text = (bytes(head) + bytes(tail)).decode("utf-8", "replace")
        extra = 0
    else:
        h = bytes(head).decode("utf-8", "replace")
        t = bytes(tail).decode("utf-8", "replace")
        half = max_chars // 2
        rest = max_chars - half
        kept_h, kept_t = h[:half], t[len(t) - rest:] if rest else ""
        n = len(h) - len(kept_h) + len(t) - len(kept_t) + dropped
        return kept_h + ELIDED.format(n=n) + kept_t, True
    if max_chars > 0 and len(text) > max_chars:
        half = max_chars // 2
        rest = max_chars - half
        n = len(text) - half - rest + extra
        return text[:half] + ELIDED.format(n=n) + text[len(text) - rest:], True
    return text, False


# --------------------------------------------------------------------------- editor
class Editor(object):
    """``str_replace_editor``: the observable behaviour of the SWE-agent / Anthropic tool."""

    def __init__(self):
        self.history = {}
        self.encodings = {}

    def read(self, path):
        """Text of ``path``: UTF-8, else latin-1 (lossless); CRLF files are seen with LF, like the
        tool's universal-newline reads, and written back with CRLF."""
        data = open(path, "rb").read()
        try:
            text = data.decode("utf-8")
            enc = "utf-8"
        except UnicodeDecodeError:
            text = data.decode("latin-1")  # lossless: every byte maps to one character
            enc = "latin-1"
        crlf = "\r\n" in text
        if crlf:
            text = text.replace("\r\n", "\n")
        self.encodings[path] = (enc, crlf)
        return text

    def write(self, path, text):
        enc, crlf = self.encodings.get(path, ("utf-8", False))
        if crlf:
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        try:
            data = text.encode(enc)
        except UnicodeEncodeError:
            data = text.encode("utf-8")
        try:
            with open(path, "wb") as fh:
                fh.write(data)
        except (OSError, IOError) as e:
            raise ToolError("Ran into %s while trying to write to %s" % (e, path), 20)

    @staticmethod
    def numbered(content, descriptor, init_line=1):
        if len(content) > MAX_RESPONSE_LEN:
            content = content[:MAX_RESPONSE_LEN] + TRUNCATED_MESSAGE
        content = content.expandtabs()
        lines = ["%6d\t%s" % (i + init_line, line) for i, line in enumerate(content.split("\n"))]
        return "Here's the result of running `cat -n` on %s:\n" % descriptor + "\n".join(lines) + "\n"

    def __call__(self, args, cwd):
        command = args.get("command")
        path = args.get("path")
        if not command:
            raise ToolError("Parameter `command` is required for the str_replace_editor tool", 5)
        if path is None:
            raise ToolError("Parameter `path` is required for command: %s" % command, 6)
        path = str(path)
        if command not in ("view", "create", "str_replace", "insert", "undo_edit"):
            raise ToolError('Unrecognized command %s. The allowed commands for the str_replace_editor tool are: '
                            '"view", "create", "str_replace", "insert", "undo_edit"' % command, 5)
        if not path.startswith("/"):
            raise ToolError("The path %s is not an absolute path, it should start with `/`. Maybe you meant %s?"
                            % (path, os.path.join(cwd, path)), 6)
        exists = os.path.exists(path)
        if not exists and command != "create":
            raise ToolError("The path %s does not exist. Please provide a valid path." % path, 7)
        if exists and command == "create":
            raise ToolError("File already exists at: %s. Cannot overwrite files using command `create`." % path, 8)
        if os.path.isdir(path) and command != "view":
            raise ToolError("The path %s is a directory and only the `view` command can be used on directories"
                            % path, 9)
        if command == "view":
            return self.view(path, args.get("view_range"))
        if command == "create":
            text = args.get("file_text")
            if text is None:
                raise ToolError("Parameter `file_text` is required for command: create", 1)
            parent = os.path.dirname(path) or "/"
            if not os.path.isdir(parent):
                raise ToolError("The parent directory %s does not exist. Please create it first." % parent, 21)
            self.encodings[path] = ("utf-8", False)
            self.write(path, str(text))
            self.history.setdefault(path, []).append(str(text))
            return "File created successfully at: %s" % path
        if command == "str_replace":
            if args.get("old_str") is None:
                raise ToolError("Parameter `old_str` is required for command: str_replace", 2)
            return self.str_replace(path, str(args["old_str"]), args.get("new_str"))
        if command == "insert":
            line = args.get("insert_line")
            if line is None:
                raise ToolError("Parameter `insert_line` is required for command: insert", 3)
            if args.get("new_str") is None:
                raise ToolError("Parameter `new_str` is required for command: insert", 4)
            try:
                line = int(line)
            except (TypeError, ValueError):
                raise ToolError("Invalid `insert_line` parameter: %s. It should be an integer." % line, 17)
            return self.insert(path, line, str(args["new_str"]))
        return self.undo(path)

    def view(self, path, view_range):
        if os.path.isdir(path):
            if view_range:
                raise ToolError("The `view_range` parameter is not allowed when `path` points to a directory.", 10)
            proc = subprocess.run(["find", path, "-maxdepth", "2", "-not", "-path", "*/.*"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if proc.stderr:
                raise ToolError(proc.stderr.decode("utf-8", "replace"), 1)
            return ("Here's the files and directories up to 2 levels deep in %s, excluding hidden items:\n%s\n"
                    % (path, proc.stdout.decode("utf-8", "replace")))
        content = self.read(path)
        init_line = 1
        if view_range:
            if isinstance(view_range, str):
                try:
                    view_range = json.loads(view_range)
                except ValueError:
                    view_range = None
            if (not isinstance(view_range, (list, tuple)) or len(view_range) != 2
                    or not all(isinstance(i, int) and not isinstance(i, bool) for i in view_range)):
                raise ToolError("Invalid `view_range`. It should be a list of two integers.", 11)
            lines = content.split("\n")
            n = len(lines)
            first, last = view_range
            if first < 1 or first > n:
                raise ToolError("Invalid `view_range`: %s. Its first element `%s` should be within the range of "
                                "lines of the file: %s" % (list(view_range), first, [1, n]), 12)
            if last > n:
                raise ToolError("Invalid `view_range`: %s. Its second element `%s` should be smaller than the number "
                                "of lines in the file: `%s`" % (list(view_range), last, n), 13)
            if last != -1 and last < first:
                raise ToolError("Invalid `view_range`: %s. Its second element `%s` should be larger or equal than "
                                "its first `%s`" % (list(view_range), last, first), 14)
            if last == -1:
                last = n
            content = "\n".join(lines[first - 1:last])
            init_line = first
        return self.numbered(content, path, init_line)

    def str_replace(self, path, old, new):
        raw = self.read(path)
        new = "" if new is None else str(new)
        # Exact match first (keeps tabs); else the tool's expanded-tabs matching.
        content, o, n = raw, old, new
        if raw.count(old) == 0 and raw.expandtabs().count(old.expandtabs()) > 0:
            content, o, n = raw.expandtabs(), old.expandtabs(), new.expandtabs()
        occurrences = content.count(o)
        if occurrences == 0:
            raise ToolError("No replacement was performed, old_str `%s` did not appear verbatim in %s." % (old, path), 15)
        if occurrences > 1:
            lines = [i + 1 for i, line in enumerate(content.split("\n")) if o in line]
            if not lines:  # a multi-line old_str: report the line each occurrence starts on
                idx, lines = content.find(o), []
                while idx != -1:
                    lines.append(content.count("\n", 0, idx) + 1)
                    idx = content.find(o, idx + 1)
            raise ToolError("No replacement was performed. Multiple occurrences of old_str `%s` in lines %s. "
                            "Please ensure it is unique" % (old, lines), 16)
        if n == o:
            raise ToolError("No replacement was performed, old_str `%s` is the same as new_str `%s`." % (old, new), 161)
        updated = content.replace(o, n)
        self.write(path, updated)
        self.history.setdefault(path, []).append(raw)
        line = content.split(o)[0].count("\n")
        first = max(1, line - SNIPPET_LINES)
        last = min(line + SNIPPET_LINES + n.count("\n"), len(updated.splitlines()))
        snippet = "\n".join(updated.split("\n")[first - 1:last])
        return ("The file %s has been edited. " % path + self.numbered(snippet, "a snippet of %s" % path, first)
                + "Review the changes and make sure they are as expected. Edit the file again if necessary.")

    def insert(self, path, line, new):
        text = self.read(path)  # the file's tabs are kept (the snippet shows them expanded)
        lines = text.split("\n")
        n = len(lines)
        if line < 0 or line > n:
            raise ToolError("Invalid `insert_line` parameter: %s. It should be within the range of lines of the "
                            "file: %s" % (line, [0, n]), 17)
        new_lines = new.split("\n")
        self.write(path, "\n".join(lines[:line] + new_lines + lines[line:]))
        self.history.setdefault(path, []).append(text)
        snippet = "\n".join(lines[max(0, line - SNIPPET_LINES):line] + new_lines + lines[line:line + SNIPPET_LINES])
        return ("The file %s has been edited. " % path
                + self.numbered(snippet, "a snippet of the edited file", max(1, line - SNIPPET_LINES + 1))
                + "Review the changes and make sure they are as expected (correct indentation, no duplicate lines, "
                  "etc). Edit the file again if necessary.")

    def undo(self, path):
        stack = self.history.get(path)
        if not stack:
            raise ToolError("No edit history found for %s." % path, 18)
        old = stack.pop()
        self.write(path, old)
        return "Last edit to %s undone successfully. %s" % (path, self.numbered(old, path))


# --------------------------------------------------------------------------- git snapshots
class Repo(object):
    """Snapshots of the work tree as git tree objects, through a private index."""

    def __init__(self, workdir, base_commit):
        self.workdir = workdir
        self.index = "/tmp/.swe-srl-index-%d" % os.getpid()
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
                    "LANG": "C.UTF-8", "GIT_CONFIG_NOSYSTEM": "0", "GIT_TERMINAL_PROMPT": "0"}
        self.base = base_commit or self.head()

    def git(self, *args, **kw):
        env = dict(self.env)
        env.update(kw.pop("env", {}))
        proc = subprocess.run(("git", "-c", "safe.directory=*") + args, cwd=self.workdir, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        if proc.returncode != 0:
            raise ToolError("git %s failed: %s" % (args[0], proc.stderr.decode("utf-8", "replace").strip()), 128)
        return proc.stdout.decode("utf-8", "replace")

    def head(self):
        try:
            return self.git("rev-parse", "--verify", "HEAD").strip()
        except ToolError:
            return None

    def snapshot_tree(self):
        """The work tree (tracked + untracked, not ignored) as a tree object; the user's index is untouched."""
        env = {"GIT_INDEX_FILE": self.index}
        real = os.path.join(self.workdir, ".git", "index")
        try:
            with open(real, "rb") as src, open(self.index, "wb") as dst:
                dst.write(src.read())  # keeps the stat cache: `add -A` only hashes changed files
        except (OSError, IOError):
            pass
        self.git("add", "-A", "--", ".", env=env)
        return self.git("write-tree", env=env).strip()

    def diff(self):
        if not self.base:
            raise ToolError("%s is not a git repository with a base commit" % self.workdir, 128)
        tree = self.snapshot_tree()
        return self.git("diff", "--no-color", "--no-ext-diff", self.base, tree)

    def restore_tree(self, tree, head):
        """Make the work tree equal ``tree`` (ignored files kept), HEAD ``head``, index = HEAD."""
        self.git("clean", "-fdq")
        self.git("read-tree", "-u", "--reset", tree)
        self.git("reset", "-q", head)


# --------------------------------------------------------------------------- main loop
class ToolServer(object):
    def __init__(self, workdir, base_commit, contained=False):
        self.workdir = workdir
        env = dict(os.environ)
        env.update(SHELL_ENV)
        env.setdefault("HOME", "/tmp")
        self.shell = Shell(workdir, env, contained)
        self.editor = Editor()
        self.repo = Repo(workdir, base_commit) if os.path.isdir(os.path.join(workdir, ".git")) else None
        self.checkpoints = {}
        self.shell_pid_file = None

    def shell_cwd(self):
        try:
            return os.readlink("/proc/%d/cwd" % self.shell.proc.pid)
        except OSError:
            return self.workdir

    def need_repo(self):
        if self.repo is None or not self.repo.base:
            raise ToolError("%s is not a git repository with a base commit" % self.workdir, 128)
        return self.repo

    def handle(self, req):
        op = req.get("op")
        if op == "hello":
            return {"ok": True, "python": sys.version.split()[0], "pid": os.getpid(), "uid": os.getuid(),
                    "base_commit": self.repo.base if self.repo else None}
        if op == "run":
            return self.shell.run(req["cmd"], req.get("timeout"), int(req.get("max_chars", 20000)))
        if op == "editor":
            try:
                out = self.editor(req["args"], self.shell_cwd())
                return {"output": out, "exit_code": 0}
            except ToolError as e:
                return {"output": e.message, "exit_code": e.code}
            except (OSError, IOError) as e:
                return {"output": "Ran into %s while trying to use the editor" % e, "exit_code": 1}
        if op == "read":
            path = os.path.join(self.workdir, req["path"])
            with open(path, "rb") as fh:
                return {"data": base64.b64encode(fh.read()).decode()}
        if op == "write":
            path = os.path.join(self.workdir, req["path"])
            parent = os.path.dirname(path)
            if parent and not os.path.isdir(parent):
                os.makedirs(parent)
            with open(path, "wb") as fh:
                fh.write(base64.b64decode(req["data"]))
            return {"ok": True}
        if op == "diff":
            return {"diff": self.need_repo().diff()}
        if op == "checkpoint":
            repo = self.need_repo()
            tree = repo.snapshot_tree()
            head = repo.head()
            key = "%s.%s.%d" % (tree, head, len(self.checkpoints) + 1)
            env = {}
            out = self.shell.run("export -p", 10, 1 << 20)
            if out.get("exit_code") == 0:
                env = out["output"]
            self.checkpoints[key] = {
                "cwd": self.shell_cwd(), "env": env,
                "history": dict((k, list(v)) for k, v in self.editor.history.items()),
            }
            return {"checkpoint": key}
        if op == "restore":
            repo = self.need_repo()
            key = req["checkpoint"]
            parts = key.split(".")
            if len(parts) != 3:
                raise ToolError("not a checkpoint of this sandbox: %r" % key, 2)
            tree, head = parts[0], parts[1]
            saved = self.checkpoints.get(key)
            self.shell.stop()  # first: a runaway process tree must not hold the files or the pids
            try:
                repo.restore_tree(tree, head)
            finally:
                self.shell.start()
            if saved:
                self.editor.history = dict((k, list(v)) for k, v in saved["history"].items())
                prefix = saved["env"] if isinstance(saved["env"], str) else ""
                self.shell.run(prefix + "\ncd %s" % ansi_c_quote(saved["cwd"]), 10, 1000)
            return {"ok": True}
        if op == "reset":
            repo = self.need_repo()
            self.shell.stop()
            try:
                base_tree = repo.git("rev-parse", repo.base + "^{tree}").strip()
                repo.restore_tree(base_tree, repo.base)
            finally:
                self.shell.start()
            self.editor.history = {}
            return {"ok": True}
        if op == "restart":
            self.shell.restart()
            return {"ok": True}
        raise ToolError("unknown request %r" % op, 2)


def main():
    workdir = sys.argv[1] if len(sys.argv) > 1 else "/"
    base_commit = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    stop_file = sys.argv[3] if len(sys.argv) > 3 else ""
    contained = len(sys.argv) > 4 and sys.argv[4] == "contained"
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    devnull = open(os.devnull, "w")
    try:
        server = ToolServer(workdir, base_commit, contained)
    except Exception as e:  # reported to the host as the answer to its first request
        stdout.write((json.dumps({"error": "agent failed to start: %s" % e}) + "\n").encode())
        stdout.flush()
        return 1
    sys.stderr = devnull
    said_bye = False
    while True:
        line = stdin.readline()
        if not line:
            break
        try:
            req = json.loads(line.decode("utf-8"))
            if req.get("op") == "bye":
                said_bye = True
                resp = {"ok": True}
            else:
                resp = server.handle(req)
        except ToolError as e:
            resp = {"error": e.message}
        except Exception as e:  # one bad request must not kill the session
            resp = {"error": "%s: %s" % (type(e).__name__, e)}
        resp["id"] = req.get("id") if isinstance(req, dict) else None
        stdout.write((json.dumps(resp) + "\n").encode())
        stdout.flush()
        if said_bye:
            break
    server.shell.stop()
    if not said_bye and stop_file:
        # The host died without saying goodbye: ask the container's main process to stop.
        try:
            open(stop_file, "w").close()
        except (OSError, IOError):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
