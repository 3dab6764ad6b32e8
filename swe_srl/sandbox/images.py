"""Sandbox images, built locally with no registry and cached by content hash.

- Base images (``swe-srl/base:py3.11``...): Debian minbase from ``debootstrap``
  (definitions in ``sandboxes/base/<release>.yaml``), the unprivileged user
  created in the root file system, then ``tar | docker import``. Needs root.
- Environment images (``swe-srl/env:<name>-<hash>``), one per (repository,
  spec): ``sandboxes/templates/env.Dockerfile`` over the base, a wheelhouse
  for the TARGET Python installed with ``pip install --no-index`` into
  ``/opt/venv``, the repository at ``base_commit`` in ``/testbed`` (history up
  to that commit only, owned by the user), the spec's install commands run at
  build with ``--network none``.
- The wheelhouse is filled on the host with ``pip download --only-binary
  --python-version`` when the host runs the target Python (environment markers
  are evaluated with the running interpreter) and every requirement has a
  wheel; else by ``pip wheel`` in a throw-away container of the same base image
  (network and the host CA bundle for that step only; compilers installed on
  demand).

Every image carries ``swe-srl.managed=true`` and its content hash
(``swe-srl.content-hash``); an image whose hash label matches is never rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from string import Template
from typing import Any, Callable, Iterator

from swe_srl.git import git
from swe_srl.paths import cache_root
from swe_srl.sandbox.spec import (
    DEFAULT_UID, DEFAULT_USER, DEFAULT_WORKDIR, LABEL_BASE_COMMIT, LABEL_HASH, LABEL_KIND, LABEL_MANAGED,
    LABEL_OWNER, LABEL_PYTHON, LABEL_REPO, LABEL_RUN, LABEL_USER, LABEL_WORKDIR, EnvSpec, SandboxError, owner_label,
    sandboxes_dir,
)

RECIPE_VERSION = "1"  # bump to invalidate every cached image
BASE_REPO = "swe-srl/base"
ENV_REPO = "swe-srl/env"
DEFAULT_PYTHON = "3.11"
RELEASES = {"3.9": "bullseye", "3.11": "bookworm", "3.13": "trixie"}
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def docker_client() -> Any:
    """A docker-py client, or :class:`SandboxError` when no engine answers."""
    import docker

    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except Exception as e:  # docker raises several unrelated types here
        raise SandboxError(f"no Docker engine answers ({e}); run `make setup` (or start dockerd)") from None
    return client


def cache_dir() -> Path:
    """The package's cache root (:func:`swe_srl.paths.cache_root`), created."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def file_lock(name: str) -> Iterator[None]:
    """A cross-process lock (two builds of the same image wait for each other)."""
    path = cache_dir() / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sha256(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()


def image_labels(image: Any) -> dict[str, str]:
    return (image.attrs.get("Config") or {}).get("Labels") or {}


def find_image(client: Any, tag: str, content_hash: str | None = None) -> Any | None:
    """The image ``tag`` if it exists (and carries ``content_hash`` when given)."""
    import docker

    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    if content_hash is not None and image_labels(image).get(LABEL_HASH) != content_hash:
        return None
    return image


# --------------------------------------------------------------------------- base images
def base_definition(python: str) -> dict[str, Any]:
    """``sandboxes/base/<release>.yaml`` for ``python`` (3.9, 3.11, 3.13)."""
    import yaml

    release = RELEASES.get(python)
    if release is None:
        raise SandboxError(f"no local base image for Python {python}: choose one of {', '.join(RELEASES)} "
                           "or name an image with --base-image")
    path = sandboxes_dir() / "base" / f"{release}.yaml"
    if path.is_file():
        data = yaml.safe_load(path.read_text()) or {}
    else:
        data = {}
    data.setdefault("release", release)
    data.setdefault("python", python)
    data.setdefault("packages", ["python3", "python3-venv", "python3-pip", "git", "ca-certificates", "procps"])
    data.setdefault("user", DEFAULT_USER)
    data.setdefault("uid", DEFAULT_UID)
    return data


def base_image_tag(python: str) -> str:
    return f"{BASE_REPO}:py{python}"


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (``SWE_SRL_DEBIAN_MIRROR`` overrides it)."""
    env = os.environ.get("SWE_SRL_DEBIAN_MIRROR")
    if env:
        return env
    candidates = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for m in re.finditer(r"(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, re.M):
            uri = m.group(1)
            if re.search(r"/debian/?$", uri):
                return uri.rstrip("/")
    return "http://deb.debian.org/debian"


def _run(cmd: list[str] | str, log: Log, what: str, **kw: Any) -> str:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                          shell=isinstance(cmd, str), **kw)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
        raise SandboxError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    for line in proc.stdout.splitlines()[-3:]:
        log(line)
    return proc.stdout


def ensure_base_image(python: str = DEFAULT_PYTHON, *, force: bool = False, log: Log = _quiet) -> str:
    """Build ``swe-srl/base:py<python>`` unless an image with the same content hash exists."""
    client = docker_client()
    definition = base_definition(python)
    mirror = definition.get("mirror") or apt_mirror()
    content_hash = sha256(RECIPE_VERSION, definition)
    tag = base_image_tag(python)
    if not force and find_image(client, tag, content_hash) is not None:
        return tag
    with file_lock(f"base-{python}"):
        if not force and find_image(client, tag, content_hash) is not None:
            return tag
        if os.geteuid() != 0:
            raise SandboxError(f"building {tag} needs root (debootstrap); run `sudo swe-srl sandbox build "
                               f"--python {python} --base-only` or pass --base-image IMAGE")
        if shutil.which("debootstrap") is None:
            raise SandboxError("debootstrap is not installed (apt-get install debootstrap, or `make setup`)")
        t0 = time.time()
        workroot = Path(os.environ.get("SWE_SRL_BUILD_TMP", "/var/tmp"))
        _remove_stale_rootfs(workroot)
        with tempfile.TemporaryDirectory(prefix="swe-srl-rootfs-", dir=workroot) as tmp:
            root = Path(tmp) / "rootfs"
            release = definition["release"]
            packages = ",".join(definition["packages"])
            log(f"debootstrap {release} from {mirror} (about a minute)")
            _run(["debootstrap", "--variant=minbase", f"--include={packages}", release, str(root), mirror],
                 log, f"debootstrap {release}")
            user, uid = str(definition["user"]), int(definition["uid"])
            _run(["chroot", str(root), "useradd", "-m", "-u", str(uid), "-s", "/bin/bash", user], log, "useradd")
            _run(["chroot", str(root), "git", "config", "--system", "--add", "safe.directory", "*"], log, "git config")
            for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for p in (root / sub).glob("*"):
                    if p.is_file():
                        p.unlink()
            changes = [
                "ENV LANG=C.UTF-8",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                'CMD ["sleep", "infinity"]',
                f"LABEL {LABEL_MANAGED}=true {LABEL_KIND}=base {LABEL_HASH}={content_hash} "
                f"{LABEL_PYTHON}={python} {LABEL_USER}={user} {LABEL_OWNER}={owner_label()} {LABEL_RUN}=build",
            ]
            cmd = ["docker", "import"]
            for c in changes:
                cmd += ["--change", c]
            cmd += ["-", tag]
            log(f"docker import {tag}")
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            try:
                _run(cmd, log, f"docker import {tag}", stdin=tar.stdout)
            finally:
                tar.stdout.close()  # type: ignore[union-attr]
                tar.wait()
        log(f"built {tag} in {time.time() - t0:.0f}s")
    return tag


def _remove_stale_rootfs(workroot: Path, max_age_s: float = 3 * 3600) -> None:
    """Root file systems left by a build that was killed (a live build is never this old)."""
    for d in workroot.glob("swe-srl-rootfs-*"):
        try:
            if time.time() - d.stat().st_mtime > max_age_s:
                shutil.rmtree(d, ignore_errors=True)
        except FileNotFoundError:
            pass


def resolve_base_image(spec: EnvSpec, *, log: Log = _quiet) -> str:
    """The base image of ``spec``: its ``base_image`` (pulled if absent) or the local Debian one."""
    if not spec.base_image:
        return ensure_base_image(spec.python, log=log)
    client = docker_client()
    if find_image(client, spec.base_image) is None:
        import docker

        log(f"pulling {spec.base_image}")
        try:
            client.images.pull(spec.base_image)
        except docker.errors.DockerException as e:
            raise SandboxError(f"base image {spec.base_image} is not present and cannot be pulled ({e})") from None
    return spec.base_image


def image_present_or_pulled(name: str, *, pull: bool) -> tuple[bool, bool]:
    """``(usable, pull_failed)`` for an image someone else publishes (an official SWE-bench
    image): present locally, else pulled when ``pull``."""
    import docker

    client = docker_client()
    if find_image(client, name) is not None:
        return True, False
    if not pull:
        return False, False
    try:
        client.images.pull(name)
    except docker.errors.DockerException:
        return False, True
    return True, False


# --------------------------------------------------------------------------- wheelhouse
def _glibc_of(release: str) -> str:
    return {"bullseye": "2_31", "bookworm": "2_36", "trixie": "2_41"}.get(release, "2_17")


def requirements(spec: EnvSpec) -> list[str]:
    """The spec's packages plus what an offline ``pip install -e .`` needs."""
    reqs = list(spec.pip_packages)
    names = {re.split(r"[<>=!~\[; ]", r.strip(), 1)[0].lower() for r in reqs}
    for extra in ("pip", "setuptools", "wheel"):  # a current pip: old bundled ones lack PEP 660 editables
        if extra not in names:
            reqs.append(extra)
    return reqs


def build_wheelhouse(spec: EnvSpec, base_image: str, *, log: Log = _quiet, pins: list[str] | None = None) -> Path:
    """A folder of wheels for ``spec``'s requirements on the target Python (cached).

    ``pins``: a resolved closure (:func:`resolve_pins`) built as it is (``--no-deps``)
    instead of the spec's requirements."""
    client = docker_client()
    base_id = client.images.get(base_image).id
    reqs = list(pins) if pins is not None else requirements(spec)
    key = sha256(RECIPE_VERSION, "wheelhouse-2", base_id, reqs, pins is not None)[:16]
    out = cache_dir() / "wheelhouses" / key
    if (out / ".complete").is_file():
        return out
    with file_lock(f"wheelhouse-{key}"):
        if (out / ".complete").is_file():
            return out
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=out.parent if out.parent.exists() else None))
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            flags = ["--no-deps"] if pins is not None else []
            if not _download_on_host(spec, [*flags, *reqs], tmp, log):
                for p in tmp.glob("*"):
                    p.unlink()
                _build_in_container(client, base_image, [*flags, *reqs], tmp, log)
            (tmp / ".complete").write_text(json.dumps({"requirements": reqs, "base_image": base_image}))
            if out.exists():
                shutil.rmtree(out)
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return out


def _download_on_host(spec: EnvSpec, reqs: list[str], dest: Path, log: Log) -> bool:
    """``pip download`` of wheels for the target Python; False when some requirement has no wheel."""
    if spec.base_image:  # a foreign image: its Python and glibc are unknown here
        return False
    if spec.python != f"{sys.version_info.major}.{sys.version_info.minor}":
        # pip evaluates environment markers (`tomli; python_version < "3.11"`) with the running
        # interpreter even under --python-version: resolve with the target's own pip instead.
        return False
    release = RELEASES.get(spec.python, "bookworm")
    arch = platform.machine()
    pyver = spec.python.replace(".", "")
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary=:all:",
           "--python-version", spec.python, "--implementation", "cp", "--abi", f"cp{pyver}", "--abi", "abi3",
           "--abi", "none", "--platform", f"manylinux_{_glibc_of(release)}_{arch}", "--dest", str(dest), *reqs]
    log(f"pip download (Python {spec.python}): {' '.join(reqs)}")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    if proc.returncode != 0:
        log("some requirements have no wheel for the target: building them in a container")
        return False
    return True


BUILDER_SCRIPT = r"""
set -eu
python3 -m venv /tmp/venv
/tmp/venv/bin/pip install -q --disable-pip-version-check -U pip setuptools wheel
if ! /tmp/venv/bin/pip wheel -q --disable-pip-version-check -w /wheelhouse "$@"; then
  echo "[builder] pip wheel failed; installing compilers and retrying"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends build-essential python3-dev >/dev/null
  /tmp/venv/bin/pip wheel -q --disable-pip-version-check -w /wheelhouse "$@"
fi
chown -R "$OWNER" /wheelhouse
"""


def _build_in_container(client: Any, base_image: str, reqs: list[str], dest: Path, log: Log) -> None:
    """``pip wheel`` in a throw-away container of ``base_image`` (network + host CA bundle, this step only)."""
    log(f"pip wheel in a throw-away {base_image} container: {' '.join(reqs)}")
    _run_builder(client, base_image, BUILDER_SCRIPT, reqs, {str(dest): "/wheelhouse"}, {},
                 f"building wheels for {' '.join(reqs)}")


def _run_builder(client: Any, base_image: str, script: str, args: list[str], mounts: dict[str, str],
                 env: dict[str, str], what: str, *, read_only: dict[str, str] | None = None) -> str:
    """Run ``script`` as root in a throw-away container of ``base_image`` with the network and the
    host's CA bundle (this step only); ``mounts`` host -> container paths, read-write. Returns its log."""
    import docker

    volumes = {host: {"bind": inside, "mode": "rw"} for host, inside in mounts.items()}
    for host, inside in (read_only or {}).items():
        volumes[host] = {"bind": inside, "mode": "ro"}
    env = {"OWNER": f"{os.getuid()}:{os.getgid()}", "PIP_DEFAULT_TIMEOUT": "120", **env}
    if os.path.isfile(CA_BUNDLE):
        volumes[CA_BUNDLE] = {"bind": "/etc/ssl/certs/ca-certificates.crt", "mode": "ro"}
        env.update({"PIP_CERT": "/etc/ssl/certs/ca-certificates.crt",
                    "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"})
    container = client.containers.create(
        base_image, ["bash", "-c", script, "builder", *args], user="0", environment=env,
        volumes=volumes, labels={LABEL_MANAGED: "true", LABEL_KIND: "builder", LABEL_OWNER: owner_label()},
        network_mode="bridge",
    )
    try:
        container.start()
        status = container.wait(timeout=1800)
        logs = container.logs().decode("utf-8", "replace")
        if status.get("StatusCode") != 0:
            tail = "\n".join(logs.strip().splitlines()[-15:])
            raise SandboxError(f"{what} failed:\n{tail}")
        return logs
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


# --------------------------------------------------------------------------- resolution as of a date
RESOLVER_SCRIPT = r"""
set -eu
cd /work
args=(--quiet --no-header --no-annotate --python "$(command -v python3)" -o /work/pins.txt)
if [ -n "$EXCLUDE_NEWER" ]; then args+=(--exclude-newer "$EXCLUDE_NEWER"); fi
uv pip compile "${args[@]}" /work/requirements.in
chown -R "$OWNER" /work
"""


def needs_resolution(spec: EnvSpec) -> bool:
    """Whether ``spec``'s requirements are resolved (as of a date, with the repository's own)."""
    return bool(spec.exclude_newer or spec.repo_requirements)


def _uv_binary() -> str:
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return found
    raise SandboxError("resolving requirements as of a date needs uv (pip install uv)")


def _project_build_requirements(root: Path) -> list[str]:
    """What building the project at ``root`` needs beside setuptools and wheel:
    ``[build-system] requires`` of pyproject.toml and ``setup_requires`` of setup.cfg."""
    import configparser
    import tomllib

    out: list[str] = []
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(errors="replace"))
            out += [r for r in (data.get("build-system") or {}).get("requires") or [] if isinstance(r, str)]
        except tomllib.TOMLDecodeError:
            pass
    cfg = root / "setup.cfg"
    if cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(cfg.read_text(errors="replace"))
            raw = parser.get("options", "setup_requires", fallback="")
            out += [line.strip() for line in raw.splitlines() if line.strip() and not line.strip().startswith("#")]
        except configparser.Error:
            pass
    return out


def _resolver_input(spec: EnvSpec, root: Path) -> list[str]:
    """The lines of ``requirements.in`` for ``spec`` with the repository snapshot at ``root``
    (mounted at /repo in the resolver)."""
    lines = list(requirements(spec))
    for item in spec.repo_requirements:
        if item == "." or item.startswith(".["):
            lines.append("/repo" + item[1:])
            lines += _project_build_requirements(root)
            continue
        choices = [c.strip() for c in item.split("|") if c.strip()]
        found = next((c for c in choices if (root / c).is_file()), None)
        if found is None:
            raise SandboxError(f"repository requirements {item!r}: no such file at the base commit")
        lines.append(f"-r /repo/{found}")
    return list(dict.fromkeys(lines))


def resolve_pins(spec: EnvSpec, base_image: str, repo_path: str | Path, commit: str, *,
                 log: Log = _quiet) -> list[str]:
    """The full set of ``name==version`` pins for ``spec`` on its target Python: its packages and the
    repository's own requirements at ``commit``, resolved by ``uv pip compile`` in a throw-away
    container of ``base_image`` as of ``spec.exclude_newer`` (cached)."""
    client = docker_client()
    base_id = client.images.get(base_image).id
    key = sha256(RECIPE_VERSION, "pins-2", base_id, requirements(spec), spec.repo_requirements,
                 spec.exclude_newer, commit if spec.repo_requirements else None)[:16]
    out = cache_dir() / "pins" / f"{key}.txt"
    if out.is_file():
        return out.read_text().split()
    with file_lock(f"pins-{key}"):
        if out.is_file():
            return out.read_text().split()
        with tempfile.TemporaryDirectory(prefix="swe-srl-resolve-") as tmp:
            work, repo = Path(tmp) / "work", Path(tmp) / "repo"
            work.mkdir()
            repo.mkdir()
            if spec.repo_requirements:  # a checkout with its history: versions may come from git (setuptools_scm)
                repo.rmdir()
                _git(["clone", "-q", "--no-checkout", str(repo_path), str(repo)])
                _git(["-c", "advice.detachedHead=false", "checkout", "-q", "--detach", commit], cwd=repo)
            lines = _resolver_input(spec, repo)
            (work / "requirements.in").write_text("\n".join(lines) + "\n")
            log(f"uv pip compile (Python {spec.python}, as of {spec.exclude_newer or 'today'}): {' '.join(lines)}")
            _run_builder(client, base_image, RESOLVER_SCRIPT, [], {str(work): "/work", str(repo): "/repo"},
                         {"EXCLUDE_NEWER": spec.exclude_newer or "", "UV_NATIVE_TLS": "1",
                          "UV_PYTHON_DOWNLOADS": "never"},
                         f"resolving {' '.join(lines)} as of {spec.exclude_newer or 'today'}",
                         read_only={_uv_binary(): "/usr/local/bin/uv"})
            pins = []
            for line in (work / "pins.txt").read_text().splitlines():
                line = line.split("#", 1)[0].strip()
                if not line or line.startswith(("-", "/", ".")) or " @ " in line or "file://" in line:
                    continue  # the project itself (installed by the spec's install commands)
                pins.append(line.replace(" ", ""))
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = out.with_suffix(f".{os.getpid()}.tmp")
        tmp_out.write_text("\n".join(pins) + "\n")
        os.replace(tmp_out, out)
    return pins


# --------------------------------------------------------------------------- environment images
def _git(args: list[str], cwd: Path | str | None = None) -> str:
    return git(args, cwd, error=SandboxError)


def resolve_commit(repo_path: str | Path, base_commit: str) -> str:
    """The full sha of ``base_commit`` in ``repo_path`` (a work tree or a bare mirror)."""
    repo_path = Path(repo_path)
    if not repo_path.exists():
        raise SandboxError(f"{repo_path}: no such repository")
    proc = subprocess.run(["git", "-C", str(repo_path), "rev-parse", "--verify", "--quiet", f"{base_commit}^{{commit}}"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SandboxError(f"{repo_path}: commit {base_commit} not found")
    return proc.stdout.strip()


def snapshot_repo(repo_path: str | Path, commit: str, dest: Path) -> None:
    """Clone ``repo_path`` into ``dest`` at ``commit`` with only that commit's history (no refs, no
    later objects: an agent cannot find the fix in the object store)."""
    _git(["clone", "-q", "--no-checkout", str(repo_path), str(dest)])
    _git(["-c", "advice.detachedHead=false", "checkout", "-q", "--detach", commit], cwd=dest)
    refs = _git(["for-each-ref", "--format=%(refname)"], cwd=dest).split()
    for ref in refs:
        _git(["update-ref", "-d", ref], cwd=dest)
    for remote in _git(["remote"], cwd=dest).split():
        _git(["remote", "remove", remote], cwd=dest)
    _git(["reflog", "expire", "--expire=now", "--all"], cwd=dest)
    _git(["gc", "-q", "--prune=now"], cwd=dest)
    exclude = dest / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with open(exclude, "a") as fh:
        fh.write("# swe-srl: byte code and caches never belong in a patch\n__pycache__/\n*.pyc\n.pytest_cache/\n")


def env_image_tag(name: str, content_hash: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or "repo"
    return f"{ENV_REPO}:{slug[:60]}-{content_hash[:12]}"


def render_dockerfile(values: dict[str, str]) -> str:
    path = sandboxes_dir() / "templates" / "env.Dockerfile"
    try:
        template = path.read_text()
    except FileNotFoundError:
        raise SandboxError(f"{path}: the environment Dockerfile template is missing (set SWE_SRL_SANDBOXES to "
                           "the project's sandboxes/ folder)") from None
    try:
        return Template(template).substitute(values)
    except (KeyError, ValueError) as e:
        raise SandboxError(f"{path}: bad placeholder {e}") from None


def build_env_image(spec: EnvSpec, repo_path: str | Path, base_commit: str, *, name: str | None = None,
                    force: bool = False, run_id: str | None = None, log: Log = _quiet) -> str:
    """The environment image of (``repo_path`` at ``base_commit``, ``spec``): built once, then cached.

    Returns the image tag. Raises :class:`SandboxError` when it cannot be built.
    """
    client = docker_client()
    commit = resolve_commit(repo_path, base_commit)
    base = resolve_base_image(spec, log=log)
    base_id = client.images.get(base).id
    pins = resolve_pins(spec, base, repo_path, commit, log=log) if needs_resolution(spec) else None
    wheelhouse = build_wheelhouse(spec, base, log=log, pins=pins)
    wheel_names = sorted(p.name for p in wheelhouse.glob("*.whl"))
    user, uid, workdir = DEFAULT_USER, DEFAULT_UID, DEFAULT_WORKDIR
    values = {
        "base_image": base, "user": user, "uid": str(uid), "workdir": workdir, "python": spec.python,
        "requirements": " ".join(shlex.quote(r) for r in (pins if pins is not None else requirements(spec))),
    }
    dockerfile = render_dockerfile(values)
    install = "set -euo pipefail\n" + ("\n".join(spec.install) if spec.install else ":") + "\n"
    content_hash = sha256(RECIPE_VERSION, "env", base_id, dockerfile, install, wheel_names, commit)
    if name is None:
        name = Path(repo_path).resolve().name.removesuffix(".git")
    tag = env_image_tag(name, content_hash)
    if not force and _cached_env_image(client, tag, content_hash):
        return tag
    with file_lock(f"env-{content_hash[:16]}"):
        if not force and _cached_env_image(client, tag, content_hash):
            return tag
        t0 = time.time()
        labels = {
            LABEL_MANAGED: "true", LABEL_KIND: "env", LABEL_HASH: content_hash, LABEL_BASE_COMMIT: commit,
            LABEL_PYTHON: spec.python, LABEL_REPO: name, LABEL_WORKDIR: workdir, LABEL_USER: user,
            LABEL_OWNER: owner_label(), LABEL_RUN: run_id or "build",
        }
        with tempfile.TemporaryDirectory(prefix="swe-srl-ctx-") as tmp:
            testbed = Path(tmp) / "testbed"
            log(f"snapshot {repo_path} at {commit[:12]}")
            snapshot_repo(repo_path, commit, testbed)
            ctx = io.BytesIO()
            with tarfile.open(fileobj=ctx, mode="w") as tar:
                _add_bytes(tar, "Dockerfile", dockerfile.encode())
                _add_bytes(tar, "install.sh", install.encode())
                tar.add(str(testbed), arcname="testbed")
                tar.add(str(wheelhouse), arcname="wheelhouse",
                        filter=lambda ti: None if ti.name.endswith(".complete") else ti)
            ctx.seek(0)
            log(f"docker build {tag}")
            _docker_build(client, ctx, tag, labels, network="bridge" if spec.base_image else "none", log=log)
        log(f"built {tag} in {time.time() - t0:.1f}s")
    return tag


def _cached_env_image(client: Any, tag: str, content_hash: str) -> bool:
    """True when ``tag`` holds ``content_hash``; an image with that hash under another name is tagged."""
    if find_image(client, tag, content_hash) is not None:
        return True
    same = client.images.list(filters={"label": f"{LABEL_HASH}={content_hash}"})
    if same:
        repo, _, version = tag.rpartition(":")
        same[0].tag(repo, version)
        return True
    return False


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _docker_build(client: Any, ctx: io.BytesIO, tag: str, labels: dict[str, str], *, network: str, log: Log) -> None:
    lines: list[str] = []
    error = None
    for chunk in client.api.build(fileobj=ctx, custom_context=True, tag=tag, labels=labels, rm=True, forcerm=True,
                                  network_mode=network, decode=True, pull=False):
        if "stream" in chunk:
            for line in chunk["stream"].splitlines():
                if line.strip():
                    lines.append(line)
                    if line.startswith("Step "):
                        log(line)
        if "error" in chunk:
            error = chunk["error"]
    if error:
        tail = "\n".join(lines[-15:])
        raise SandboxError(f"docker build {tag} failed: {error.strip()}\n{tail}")
