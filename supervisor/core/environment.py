"""How each engine image is told its ports (see REFERENCE: the engine images in use)."""

from __future__ import annotations

from supervisor.stack_settings import PortStyle


def engine_flags(http: int, https: int, p2p: int) -> list[str]:
    return [f"--http-port={http}", f"--https-port={https}", f"--port={p2p}", "--bind-all"]


def engine_environment(style: PortStyle, http: int, https: int, p2p: int) -> dict[str, str]:
    if style is PortStyle.conf:
        return {
            "CONF": f"--http-port={http}\n--https-port={https}\n--bind-all",
            "HTTP_PORT": str(http),
            "HTTPS_PORT": str(https),
            "BIND_ALL": "true",
            "P2P_PORT": str(p2p),
        }
    flags = " ".join(engine_flags(http, https, p2p))
    if style is PortStyle.acestream_args:
        return {"ACESTREAM_ARGS": flags}
    return {"EXTRA_FLAGS": flags, "ALLOW_REMOTE_ACCESS": "yes"}


# Every variable through which some image learns its ports: a client's `env` may not set one.
PORT_ENVIRONMENT = frozenset(name for style in PortStyle for name in engine_environment(style, 0, 0, 0))
