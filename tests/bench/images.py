"""Every image the bench needs, built with no registry and cached by content hash.

1. A Debian bookworm root filesystem with python3, made by debootstrap and `docker import`ed. Its tarball
   is cached under $ACE_BENCH_DIR/cache by a hash of the recipe (suite, variant, packages), but a missing
   or broken tarball is simply made again.
2. `python:3.11-slim-bookworm`: that rootfs plus a wheelhouse of the project's dependencies (downloaded
   from PyPI on the host) with PIP_FIND_LINKS/PIP_NO_INDEX set, so the project's unchanged Dockerfile
   builds offline against it.
3. The stand-ins from tests/standins/, tagged under the image names the shipped profiles use.
4. The supervisor image, built from the repository's Dockerfile as compose would build it.

Each image carries the label `ace.bench.key` (its content hash); an image whose label matches is reused.
Run `scripts/build-images` to build them outside pytest.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path

import docker
import docker.errors

ROOT = Path(__file__).resolve().parents[2]
STANDINS = ROOT / "tests" / "standins"
BENCH_DIR = Path(os.environ.get("ACE_BENCH_DIR", "/var/tmp/ace-bench"))
CACHE_DIR = BENCH_DIR / "cache"
KEY_LABEL = "ace.bench.key"
RECIPE_VERSION = "1"

SUITE = "bookworm"
VARIANT = "minbase"
ROOTFS_PACKAGES = ("python3", "python3-venv")
MIRROR = os.environ.get("ACE_BENCH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
ROOTFS_REPOSITORY = "ace-bench/bookworm-python3"
TRIMMED = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt",
    "var/lib/apt/lists",
)

PYTHON_BASE = "python:3.11-slim-bookworm"
ENGINE_IMAGES = (
    "ghcr.io/krinkuto11/acestream-http-proxy:latest",
    "jopsis/acestream:x64",
    "martinbjeldbak/acestream-http-proxy:latest",
)
GLUETUN_IMAGE = "qmcgaw/gluetun:v3.41.1"
SUPERVISOR_IMAGE = "acestream-orchestrator-supervisor:local"
# What the project's Dockerfile copies: a change to any of these rebuilds the supervisor image.
SUPERVISOR_INPUTS = (
    "Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "scripts/supervisor-entrypoint.sh",
    "generator", "supervisor", "templates", "profiles",
)  # fmt: skip

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def files_digest(root: Path, paths: Iterable[str]) -> str:
    hasher = hashlib.sha256()
    for name in paths:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts:
                continue
            try:
                content = file.read_bytes()
            except FileNotFoundError:  # removed while we walked the tree
                continue
            hasher.update(file.relative_to(root).as_posix().encode() + b"\0")
            hasher.update(content + b"\0")
    return hasher.hexdigest()


def _labelled(client: docker.DockerClient, tag: str, key: str) -> bool:
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return (image.labels or {}).get(KEY_LABEL) == key


def _install_with_apt(command: str, package: str, log: Log) -> None:
    if shutil.which(command):
        return
    if os.geteuid() != 0:
        raise RuntimeError(f"{command} is missing; install it with `apt-get install {package}` (needs root)")
    log(f"installing {package} with apt-get")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package], check=True, env=environment
    )


def _deb_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def rootfs_key() -> str:
    return digest(RECIPE_VERSION, SUITE, VARIANT, ROOTFS_PACKAGES, TRIMMED, _deb_arch())


def make_rootfs_tarball(target: Path, log: Log) -> None:
    """debootstrap a minimal bookworm with python3 and write it as a tar to `target` (atomically)."""
    _install_with_apt("debootstrap", "debootstrap", log)
    work = BENCH_DIR / "work"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        root = Path(scratch) / "root"
        started = time.monotonic()
        subprocess.run(
            [
                "debootstrap",
                f"--variant={VARIANT}",
                f"--arch={_deb_arch()}",
                f"--include={','.join(ROOTFS_PACKAGES)}",
                SUITE,
                str(root),
                MIRROR,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        log(f"debootstrap took {time.monotonic() - started:.0f} s")
        for name in TRIMMED:
            for child in (root / name).glob("*"):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        partial = target.with_suffix(".partial")
        subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], check=True)
        partial.replace(target)


def ensure_rootfs(client: docker.DockerClient, log: Log = _stderr) -> str:
    key = rootfs_key()
    tag = f"{ROOTFS_REPOSITORY}:{key[:16]}"
    if _labelled(client, tag, key) or _has(client, tag):
        return tag
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tarball = CACHE_DIR / f"rootfs-{key}.tar"
    for attempt in (1, 2):
        if not tarball.exists():
            make_rootfs_tarball(tarball, log)
        try:
            started = time.monotonic()
            repository, _, version = tag.partition(":")
            client.api.import_image_from_file(str(tarball), repository=repository, tag=version)
            client.images.get(tag)
            log(f"imported {tag} in {time.monotonic() - started:.0f} s")
            return tag
        except docker.errors.APIError as error:
            if attempt == 2:
                raise
            log(f"cached rootfs {tarball} did not import ({error}); making it again")
            tarball.unlink(missing_ok=True)
    raise AssertionError("unreachable")


def _has(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def project_dependencies() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    build = project["build-system"]["requires"]
    return [*project["project"]["dependencies"], *build, "wheel"]


def _manylinux_tags() -> list[str]:
    """Every manylinux tag bookworm's glibc 2.36 accepts (pip does not widen --platform by itself)."""
    machine = platform.machine()
    legacy = [f"manylinux2014_{machine}", f"manylinux2010_{machine}", f"manylinux1_{machine}"]
    return [f"manylinux_2_{minor}_{machine}" for minor in range(36, 4, -1)] + legacy


def download_wheelhouse(target: Path, requirements: list[str], log: Log) -> None:
    """Wheels for CPython 3.11 on glibc Linux (what the bookworm rootfs runs), from the host's PyPI."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--implementation=cp",
            "--python-version=3.11",
            "--abi=cp311",
            *(f"--platform={tag}" for tag in _manylinux_tags()),
            "--dest",
            str(partial),
            *requirements,
        ],
        check=True,
    )
    partial.replace(target)
    log(f"downloaded {len(list(target.iterdir()))} wheels in {time.monotonic() - started:.0f} s")


def _build(
    client: docker.DockerClient, context: Path, tags: tuple[str, ...], key: str, log: Log, **options: object
) -> None:
    started = time.monotonic()
    try:
        image, _ = client.images.build(
            path=str(context),
            tag=tags[0],
            rm=True,
            forcerm=True,
            network_mode="none",
            labels={KEY_LABEL: key},
            **options,
        )
    except docker.errors.BuildError as error:
        lines = "".join(str(chunk.get("stream") or chunk.get("error") or "") for chunk in error.build_log)
        raise RuntimeError(f"building {tags[0]} from {context} failed:\n{lines[-4000:]}") from None
    for tag in tags[1:]:
        repository, _, version = tag.rpartition(":")
        image.tag(repository, version)
    log(f"built {', '.join(tags)} in {time.monotonic() - started:.0f} s")


def ensure_python_base(client: docker.DockerClient, rootfs: str, log: Log = _stderr) -> str:
    requirements = project_dependencies()
    key = digest(rootfs, requirements)
    if _labelled(client, PYTHON_BASE, key):
        return key
    wheelhouse = CACHE_DIR / f"wheelhouse-{key[:16]}"
    if not wheelhouse.is_dir():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        download_wheelhouse(wheelhouse, requirements, log)
    with tempfile.TemporaryDirectory() as scratch:
        context = Path(scratch)
        shutil.copytree(wheelhouse, context / "wheels")
        (context / "Dockerfile").write_text(
            "# Stand-in for the official python:3.11-slim-bookworm: Debian's python3 with an offline\n"
            "# wheelhouse of the project's dependencies, so pip inside builds needs no network.\n"
            f"FROM {rootfs}\n"
            "COPY wheels /wheels\n"
            "ENV PIP_FIND_LINKS=/wheels PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 LANG=C.UTF-8\n"
            'CMD ["python3"]\n'
        )
        _build(client, context, (PYTHON_BASE,), key, log)
    return key


def ensure_standins(client: docker.DockerClient, base_key: str, log: Log = _stderr) -> None:
    for name, tags in (("engine", ENGINE_IMAGES), ("gluetun", (GLUETUN_IMAGE,))):
        key = digest(base_key, files_digest(STANDINS, [name]))
        if all(_labelled(client, tag, key) for tag in tags):
            continue
        _build(client, STANDINS / name, tags, key, log, buildargs={"BASE": PYTHON_BASE})


def ensure_supervisor(client: docker.DockerClient, base_key: str, log: Log = _stderr) -> None:
    key = digest(base_key, files_digest(ROOT, SUPERVISOR_INPUTS))
    if _labelled(client, SUPERVISOR_IMAGE, key):
        return
    _build(client, ROOT, (SUPERVISOR_IMAGE,), key, log, dockerfile="Dockerfile")
    client.images.prune(filters={"dangling": True})


def ensure_all(client: docker.DockerClient, log: Log = _stderr) -> dict[str, float]:
    """Build (or reuse) every bench image; returns the seconds each step took."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    rootfs = ensure_rootfs(client, log)
    timings["rootfs"] = time.monotonic() - started
    started = time.monotonic()
    base_key = ensure_python_base(client, rootfs, log)
    timings["python_base"] = time.monotonic() - started
    started = time.monotonic()
    ensure_standins(client, base_key, log)
    timings["standins"] = time.monotonic() - started
    started = time.monotonic()
    ensure_supervisor(client, base_key, log)
    timings["supervisor"] = time.monotonic() - started
    return timings


def main() -> None:
    host = os.environ.get("DOCKER_HOST") or f"unix://{BENCH_DIR}/daemon/docker.sock"
    client = docker.DockerClient(base_url=host, timeout=600)
    timings = ensure_all(client)
    _stderr("timings (s): " + ", ".join(f"{step} {seconds:.1f}" for step, seconds in timings.items()))


if __name__ == "__main__":
    main()
