"""Stand-in for the AceStream engine (`acestreamengine`) as the shipped engine images run it.

It stands in for the images the profiles use: ghcr.io/krinkuto11/acestream-http-proxy (flags from env
`CONF`, one per line, plus HTTP_PORT/HTTPS_PORT/BIND_ALL/P2P_PORT), jopsis/acestream (env `ACESTREAM_ARGS`,
flags appended) and martinbjeldbak/acestream-http-proxy (env `EXTRA_FLAGS`, `ALLOW_REMOTE_ACCESS=yes` adds
--bind-all), and for the engine's own command-line flags (`--http-port` default 6878, `--https-port`,
`--port`, `--bind-all`). The HTTP API follows AceStream's developer documentation (acestream/ace-network-docs,
docs/developers/*.md): get_version, get_status, get_network_connection_status, /ace/getstream and
/ace/manifest.m3u8 (format=json, or the stream itself), the playback URLs (/ace/r TS, /ace/m HLS with
/ace/c segments), stat (/ace/stat) and command (/ace/cmd) URLs.
Without --bind-all it listens on 127.0.0.1 only, as the engine does. It never opens an outgoing connection.

A disk cache that grows, for the cache tests: env STANDIN_CACHE_BYTES_PER_S (default 0: none) makes a thread
append that many bytes a second, in 1 MiB piece files, under the cache directory its flags name
(`--cache-dir`, default ~/.ACEStream/.acestream_cache), whatever cap the flags give (it stands in for the
engines users report filling the disk); `GET /_standin/state` shows the cache flags it read.

Faults for tests, not part of the real engine: env STANDIN_FAULT (`slow:SECONDS`, `error`, `hang`,
`exit:CODE`) at start, or `POST /_standin/fault` with {"mode": "none"|"slow"|"error"|"hang"|"exit",
"delay_s": 2.0, "code": 1}; `GET /_standin/state` shows the ports it parsed, its sessions and how many
connections it accepted. The /_standin routes are never faulted. It answers HTTP/1.1 and keeps
connections open between requests (a thread per connection).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DEFAULT_HTTP_PORT = 6878
DEFAULT_P2P_PORT = 8621
TS_PACKET = 188
CHUNK_PACKETS = 7
VERSION = {"code": 3017000, "platform": "linux", "version": "3.1.70"}


def engine_flags(argv: list[str], environ: dict[str, str]) -> list[str]:
    """Every flag the image would hand to the engine: its environment's conventions, then argv."""
    flags: list[str] = []
    for line in environ.get("CONF", "").splitlines():
        flags.extend(shlex.split(line))
    if environ.get("HTTP_PORT"):
        flags.append(f"--http-port={environ['HTTP_PORT']}")
    if environ.get("HTTPS_PORT"):
        flags.append(f"--https-port={environ['HTTPS_PORT']}")
    if environ.get("P2P_PORT"):
        flags.append(f"--port={environ['P2P_PORT']}")
    if environ.get("BIND_ALL", "").lower() in ("1", "true", "yes"):
        flags.append("--bind-all")
    if environ.get("ALLOW_REMOTE_ACCESS", "").lower() == "yes":
        flags.append("--bind-all")
    flags.extend(shlex.split(environ.get("ACESTREAM_ARGS", "")))
    flags.extend(shlex.split(environ.get("EXTRA_FLAGS", "")))
    flags.extend(argv)
    return flags


def parse_ports(flags: list[str]) -> dict[str, object]:
    """The engine's reading of its flags: the last occurrence wins, `--flag=value` or `--flag value`."""
    result: dict[str, object] = {
        "http_port": DEFAULT_HTTP_PORT,
        "https_port": None,
        "p2p_port": DEFAULT_P2P_PORT,
        "bind_all": False,
    }
    names = {"--http-port": "http_port", "--https-port": "https_port", "--port": "p2p_port"}
    index = 0
    while index < len(flags):
        flag = flags[index]
        name, _, value = flag.partition("=")
        if name == "--bind-all":
            result["bind_all"] = True
        elif name in names:
            if not value and index + 1 < len(flags):
                index += 1
                value = flags[index]
            result[names[name]] = int(value)
        index += 1
    return result


CACHE_PIECE_BYTES = 1 << 20


def parse_cache(flags: list[str]) -> dict[str, object]:
    """The cache flags the engine would read (the last occurrence wins), and the directory it caches in."""
    result: dict[str, object] = {
        "cache_dir": os.path.expanduser("~/.ACEStream/.acestream_cache"),
        "cache_limit": None,
        "live_cache_type": None,
        "live_mem_cache_size": None,
    }
    names = {
        "--cache-dir": "cache_dir",
        "--cache-limit": "cache_limit",
        "--live-cache-type": "live_cache_type",
        "--live-mem-cache-size": "live_mem_cache_size",
    }
    for index, flag in enumerate(flags):
        name, equals, value = flag.partition("=")
        if name in names:
            if not equals and index + 1 < len(flags):
                value = flags[index + 1]
            result[names[name]] = int(value) if value.isdigit() else value
    return result


def grow_cache(directory: str, bytes_per_s: float) -> None:
    """Append to the cache for ever, bytes_per_s a second, a new piece file every CACHE_PIECE_BYTES."""
    os.makedirs(directory, exist_ok=True)
    step_s = 0.1
    block = b"\0" * max(1, int(bytes_per_s * step_s))
    written, piece = 0, 0
    while True:
        with open(os.path.join(directory, f"piece-{piece:06d}.bin"), "ab") as file:
            file.write(block)
        written += len(block)
        if written >= CACHE_PIECE_BYTES:
            written, piece = 0, piece + 1
        time.sleep(step_s)


def ts_chunk() -> bytes:
    """A few MPEG-TS packets: 188 bytes each, sync byte 0x47, continuity counter 0..N."""
    chunk = bytearray()
    for counter in range(CHUNK_PACKETS):
        packet = bytearray(TS_PACKET)
        packet[0] = 0x47
        packet[1], packet[2], packet[3] = 0x01, 0x00, 0x10 | (counter & 0x0F)
        chunk += packet
    return bytes(chunk)


class Engine:
    def __init__(self, ports: dict[str, object], cache: dict[str, object] | None = None) -> None:
        self.ports = ports
        self.cache = cache or {}
        self.lock = threading.Lock()
        self.sessions: dict[str, dict[str, object]] = {}
        self.fault: dict[str, object] = {"mode": "none"}
        self.connections = 0  # accepted since start: how many connections its clients opened
        self.stream_rate = float(os.environ.get("STANDIN_STREAM_CHUNKS_PER_S", "50"))

    def set_fault(self, spec: dict[str, object]) -> None:
        with self.lock:
            self.fault = dict(spec)

    def start_session(self, infohash: str, is_live: bool) -> str:
        session = uuid.uuid4().hex
        with self.lock:
            self.sessions[session] = {
                "infohash": infohash,
                "is_live": is_live,
                "started": time.time(),
                "downloaded": 0,
                "uploaded": 0,
                "opened": time.monotonic(),
                "stopped": threading.Event(),
            }
        return session

    def stop_session(self, session: str) -> bool:
        with self.lock:
            entry = self.sessions.pop(session, None)
        if entry is None:
            return False
        stopped = entry["stopped"]
        assert isinstance(stopped, threading.Event)
        stopped.set()
        return True


def fault_from_env(value: str) -> dict[str, object]:
    mode, _, argument = value.partition(":")
    if mode == "slow":
        return {"mode": "slow", "delay_s": float(argument or 2)}
    if mode == "exit":
        return {"mode": "exit", "code": int(argument or 1)}
    return {"mode": mode or "none"}


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with kept-alive connections, as the engine's own server: every answer carries its length,
    except a stream's, which ends with its connection."""

    server_version = "AceStreamStandin/3.1.70"
    protocol_version = "HTTP/1.1"
    # An answer's head and body leave in one segment (the buffer is flushed after each request), with no
    # wait for the client's delayed ACK between them.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    engine: Engine

    def setup(self) -> None:
        super().setup()
        with self.engine.lock:
            self.engine.connections += 1

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write("engine-standin: " + (format % args) + "\n")

    def send_json(self, payload: object, status: int = 200) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def apply_fault(self) -> bool:
        """True when the fault answered the request already."""
        fault = self.engine.fault
        mode = fault.get("mode", "none")
        if mode == "slow":
            time.sleep(float(fault.get("delay_s", 2.0)))  # type: ignore[arg-type]
        elif mode == "error":
            self.send_json({"result": None, "error": "internal error (stand-in fault)"}, 500)
            return True
        elif mode == "hang":
            while self.engine.fault.get("mode") == "hang":
                time.sleep(0.2)
        elif mode == "exit":
            sys.stderr.write("engine-standin: exiting on fault\n")
            os._exit(int(fault.get("code", 1)))  # type: ignore[arg-type]
        return False

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/_standin/fault":
            self.send_json({"error": "not found"}, 404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            spec = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self.send_json({"error": "body must be JSON"}, 400)
            return
        if spec.get("mode") == "exit":
            self.send_json({"fault": spec})
            self.wfile.flush()
            os._exit(int(spec.get("code", 1)))
        self.engine.set_fault(spec)
        self.send_json({"fault": spec})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if url.path == "/_standin/state":
            with self.engine.lock:
                sessions = sorted(self.engine.sessions)
                connections = self.engine.connections
            state = {"ports": self.engine.ports, "fault": self.engine.fault, "sessions": sessions}
            self.send_json({**state, "cache": self.engine.cache, "connections": connections})
            return
        if self.apply_fault():
            return
        path = url.path
        if path == "/webui/api/service" and query.get("method") == "get_version":
            self.send_json({"result": VERSION, "error": None})
        elif path == "/server/api" and query.get("method") == "get_status":
            self.send_json({"result": {"playlist_loaded": True, "is_connected": True}, "error": None})
        elif path == "/server/api" and query.get("method") == "get_network_connection_status":
            self.send_json({"result": {"connected": True}, "error": None})
        elif path in ("/ace/getstream", "/ace/manifest.m3u8"):
            self.handle_getstream(query, hls=path.endswith(".m3u8"))
        elif path.startswith("/ace/r/"):
            self.handle_stream(path.split("/"))
        elif path.startswith("/ace/m/"):
            self.handle_playlist(path.split("/"))
        elif path.startswith("/ace/c/"):
            self.send_bytes(ts_chunk() * 10, "video/mp2t")
        elif path.startswith("/ace/stat/"):
            self.handle_stat(path.split("/"))
        elif path.startswith("/ace/cmd/"):
            self.handle_command(path.split("/"), query)
        else:
            self.send_json({"result": None, "error": "unknown method"}, 404)

    def handle_getstream(self, query: dict[str, str], hls: bool) -> None:
        content_id = query.get("content_id") or query.get("id")
        infohash = query.get("infohash")
        if not content_id and not infohash:
            self.send_json({"response": None, "error": "missing content_id or infohash"}, 400)
            return
        if not infohash:
            infohash = hashlib.sha1(f"content:{content_id}".encode()).hexdigest()
        session = self.engine.start_session(infohash, is_live=True)
        if query.get("format") != "json":  # the stream itself, as a player would ask for it
            if hls:
                self.handle_playlist(["", "ace", "m", infohash, f"{session}.m3u8"])
            else:
                self.handle_stream(["", "ace", "r", infohash, session])
            return
        base = f"http://{self.headers.get('Host') or '127.0.0.1'}"
        playback = f"{base}/ace/m/{infohash}/{session}.m3u8" if hls else f"{base}/ace/r/{infohash}/{session}"
        self.send_json(
            {
                "response": {
                    "playback_url": playback,
                    "stat_url": f"{base}/ace/stat/{infohash}/{session}",
                    "command_url": f"{base}/ace/cmd/{infohash}/{session}",
                    "infohash": infohash,
                    "playback_session_id": session,
                    "is_live": 1,
                    "is_encrypted": 0,
                    "client_session_id": -1,
                },
                "error": None,
            }
        )

    def session(self, parts: list[str]) -> tuple[str, dict[str, object] | None]:
        # ["", "ace", kind, infohash, session]
        session = parts[4] if len(parts) > 4 else ""
        with self.engine.lock:
            return session, self.engine.sessions.get(session)

    def handle_stream(self, parts: list[str]) -> None:
        _, entry = self.session(parts)
        if entry is None:
            self.send_json({"response": None, "error": "unknown playback session id"}, 404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.send_header("Connection", "close")  # no length: the stream ends with its connection
        self.end_headers()
        self.close_connection = True
        stopped = entry["stopped"]
        assert isinstance(stopped, threading.Event)
        chunk = ts_chunk()
        interval = 1.0 / self.engine.stream_rate
        try:
            while not stopped.is_set():
                self.wfile.write(chunk)
                self.wfile.flush()
                with self.engine.lock:
                    entry["downloaded"] = int(entry["downloaded"]) + len(chunk)  # type: ignore[call-overload]
                stopped.wait(interval)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def handle_playlist(self, parts: list[str]) -> None:
        parts[-1] = parts[-1].removesuffix(".m3u8")
        _, entry = self.session(parts)
        if entry is None:
            self.send_json({"response": None, "error": "unknown playback session id"}, 404)
            return
        first = int(time.time()) // 2
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
        for number in range(first, first + 3):
            lines += ["#EXTINF:2.0,", f"/ace/c/{entry['infohash']}/{number}.ts"]
        self.send_bytes(("\n".join(lines) + "\n").encode(), "application/vnd.apple.mpegurl")

    def send_bytes(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_stat(self, parts: list[str]) -> None:
        session, entry = self.session(parts)
        if entry is None:
            self.send_json({"response": None, "error": "unknown playback session id"})
            return
        now = int(time.time())
        # Figures that move with the session's age, as a live engine's do (plus what a client read).
        age = int(time.monotonic() - float(entry["opened"]))  # type: ignore[arg-type]
        self.send_json(
            {
                "response": {
                    "status": "dl",
                    "peers": 7 + age % 5,
                    "speed_down": 120 + age % 50,
                    "speed_up": 15,
                    "downloaded": int(entry["downloaded"]) + age * 120 * 1024,  # type: ignore[call-overload]
                    "uploaded": int(entry["uploaded"]) + age * 15 * 1024,  # type: ignore[call-overload]
                    "playback_session_id": session,
                    "infohash": entry["infohash"],
                    "is_live": 1 if entry["is_live"] else 0,
                    "disk_cache_stats": {"avail": 1 << 30, "disk_cache_limit": 1 << 30, "inactive_inuse": 0},
                    # The engine sends livepos values as strings (start-playback.md's example).
                    "livepos": {
                        "last": str(now),
                        "live_first": str(now - 600),
                        "live_last": str(now),
                        "pos": str(now - 5),
                        "first_ts": str(now - 600),
                        "last_ts": str(now),
                        "buffer_pieces": "15",
                        "is_live": "1",
                    },
                },
                "error": None,
            }
        )

    def handle_command(self, parts: list[str], query: dict[str, str]) -> None:
        session, _ = self.session(parts)
        if query.get("method") != "stop":
            self.send_json({"response": None, "error": "unknown method"})
            return
        if self.engine.stop_session(session):
            self.send_json({"response": "ok", "error": None})
        else:
            self.send_json({"response": None, "error": "unknown playback session id"})


STATE_FILE = "/tmp/acestream-standin-port"


def healthcheck() -> None:
    """The images' healthcheck: get_version on the engine's own port answers 200."""
    import urllib.request

    try:
        with open(STATE_FILE) as file:
            port = int(file.read())
        url = f"http://127.0.0.1:{port}/webui/api/service?method=get_version"
        with urllib.request.urlopen(url, timeout=3) as response:
            sys.exit(0 if response.status == 200 else 1)
    except (OSError, ValueError) as error:
        sys.stderr.write(f"unhealthy: {error}\n")
        sys.exit(1)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--healthcheck"]:
        healthcheck()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # PID 1 has no default SIGTERM action
    flags = engine_flags(argv, dict(os.environ))
    ports, cache = parse_ports(flags), parse_cache(flags)
    engine = Engine(ports, cache)
    cache_rate = float(os.environ.get("STANDIN_CACHE_BYTES_PER_S", "0"))
    if cache_rate > 0:
        directory = str(cache["cache_dir"])
        threading.Thread(target=grow_cache, args=(directory, cache_rate), name="cache", daemon=True).start()
    engine.set_fault(fault_from_env(os.environ.get("STANDIN_FAULT", "")))
    Handler.engine = engine
    address = "0.0.0.0" if ports["bind_all"] else "127.0.0.1"
    # socketserver's listen backlog is 5: a client opening a pool of connections at once would see SYNs
    # dropped and retried a second later.
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer((address, int(ports["http_port"])), Handler)  # type: ignore[call-overload]
    server.daemon_threads = True
    with open(STATE_FILE, "w") as file:
        file.write(str(ports["http_port"]))
    sys.stderr.write(f"engine-standin: listening on {address}:{ports['http_port']} ({ports})\n")
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
