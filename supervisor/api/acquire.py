"""`POST /engines/acquire`: the engine to use for a stream, in one round trip (see supervisor/acquire.py)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, post
from litestar.params import JSONBody

from supervisor.acquire import DEFAULT_TIMEOUT_S
from supervisor.api.auth import API_KEY, require_api_key
from supervisor.api.deps import SupervisorDependency
from supervisor.api.errors import documented


class AcquireBody(msgspec.Struct, forbid_unknown_fields=False):
    key_type: Literal["content_id", "infohash", "url", "magnet"]
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    client: Annotated[str, msgspec.Meta(max_length=128)] | None = None  # the proxy's id, for the log
    # How long the caller waits for a new engine to answer (default 2.5 s, below acexy's 3 s).
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = DEFAULT_TIMEOUT_S


class AcquireOut(msgspec.Struct):
    container_id: str
    container_name: str
    host: str
    port: int
    playback_url_base: (
        str  # append getstream?id=<content id> (or infohash=, url=, magnet=), manifest.m3u8?...
    )
    reused: bool  # an engine that already existed (false: created for this acquire)
    streams_on_engine: int


class AcquireController(Controller):
    tags = ("engines",)

    @post(
        "/engines/acquire",
        status_code=200,
        guards=[require_api_key],
        security=API_KEY,
        responses=documented(400, 401, 403, 413, 503),
    )
    async def acquire(self, supervisor: SupervisorDependency, data: JSONBody[AcquireBody]) -> AcquireOut:
        """The engine a stream of this key should use: the one already serving the key while it has
        room, else the free engine with the most spare capacity, else a new one, answered once ready.
        It is claimed for 10 s for the stream_started that follows. 503 (should_wait) when a new engine
        is not ready within timeout_s: it is kept for the next acquire of the key."""
        acquired = await supervisor.acquirer.acquire(data.key, data.timeout_s)
        engine = acquired.engine
        host = supervisor.config.env.engine_host
        return AcquireOut(
            container_id=engine.container_id,
            container_name=engine.container_name,
            host=host,
            port=engine.host_http_port,
            playback_url_base=f"http://{host}:{engine.host_http_port}/ace/",
            reused=acquired.reused,
            streams_on_engine=len(engine.streams),
        )
