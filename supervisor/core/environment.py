"""How each engine image is told its ports and its cache policy (see REFERENCE: the engine images in use).

Every image takes engine flags its own way (CONF lines, ACESTREAM_ARGS, EXTRA_FLAGS), so the cache flags
travel exactly as the port flags do; a tmpfs cache is a mount of the container, not a flag.
"""

from __future__ import annotations

from collections.abc import Sequence

from supervisor.stack_settings import GIB, CacheMode, CacheSettings, PortStyle

# Where a tmpfs cache is mounted in the engine container (and what its --cache-dir names).
CACHE_MOUNT = "/acestream-cache"


def engine_flags(http: int, https: int, p2p: int) -> list[str]:
    return [f"--http-port={http}", f"--https-port={https}", f"--port={p2p}", "--bind-all"]


def cache_flags(cache: CacheSettings) -> list[str]:
    """The engine flags of a cache policy. `--cache-limit` counts whole GiB (rounded down): the engine
    prunes its disk cache under it in every mode; memory mode caches live streams in RAM instead, and
    tmpfs mode points the cache directory at the mount."""
    flags = []
    if cache.mode is CacheMode.memory:
        flags += ["--live-cache-type=memory", f"--live-mem-cache-size={int(cache.limit)}"]
    if cache.mode is CacheMode.tmpfs:
        flags.append(f"--cache-dir={CACHE_MOUNT}")
    if cache.limit >= GIB:
        flags.append(f"--cache-limit={cache.limit // GIB}")
    return flags


def cache_mounts(cache: CacheSettings) -> dict[str, str]:
    """The tmpfs mounts of a cache policy (path -> Docker's tmpfs options): the kernel holds its size, and
    mode 1777 lets an engine that runs as a user of its own write there."""
    if cache.mode is not CacheMode.tmpfs:
        return {}
    return {CACHE_MOUNT: f"size={int(cache.limit)},mode=1777"}


def engine_environment(
    style: PortStyle, http: int, https: int, p2p: int, extra: Sequence[str] = ()
) -> dict[str, str]:
    """The environment that tells an image of this style its ports and the `extra` flags (its cache's)."""
    if style is PortStyle.conf:
        lines = [f"--http-port={http}", f"--https-port={https}", "--bind-all", *extra]
        return {
            "CONF": "\n".join(lines),
            "HTTP_PORT": str(http),
            "HTTPS_PORT": str(https),
            "BIND_ALL": "true",
            "P2P_PORT": str(p2p),
        }
    flags = " ".join([*engine_flags(http, https, p2p), *extra])
    if style is PortStyle.acestream_args:
        return {"ACESTREAM_ARGS": flags}
    return {"EXTRA_FLAGS": flags, "ALLOW_REMOTE_ACCESS": "yes"}


# Every variable through which some image learns its ports: a client's `env` may not set one.
PORT_ENVIRONMENT = frozenset(name for style in PortStyle for name in engine_environment(style, 0, 0, 0))
