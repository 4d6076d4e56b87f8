"""A Docker daemon that stops answering, on the real bench: the supervisor talks to the daemon through a
socket relay the test cuts and restores (the daemon itself keeps running the engines, as when dockerd
restarts with live-restore). Provisioning pauses with `docker_unreachable`, the breaker stays closed,
and provisioning resumes within about one check of the daemon's return."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path
from typing import Any

import docker
import pytest
from e2e import supervisor_harness as harness
from e2e.test_faults_docker import AUTH, ready_engines

pytestmark = pytest.mark.docker


class SocketRelay:
    """A unix socket that forwards every connection to the daemon's, until `cut`."""

    def __init__(self, target: str, path: Path) -> None:
        self.target = target.removeprefix("unix://")
        self.path = path
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def restore(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        listener.bind(str(self.path))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and break the open ones (the event stream included)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with self._lock:
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            with self._lock:
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)


def test_a_daemon_outage_pauses_provisioning_without_opening_the_breaker(
    stack_for: Any, docker_client: docker.DockerClient, docker_host: str, tmp_path: Path
) -> None:
    relay = SocketRelay(docker_host, tmp_path / "relay.sock")
    relay.restore()
    supervisor = stack_for("standalone", 27130, replicas={"min": 1})
    supervisor.docker_host = relay.url
    try:
        with harness.running_supervisor(supervisor), supervisor.client() as client:
            ready_engines(client, 1)
            relay.cut()
            refusals = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # 20 s of outage, a provision every half second
                answer = client.post("/provision/acestream", json={"labels": {"n": "x"}}, headers=AUTH)
                assert answer.status_code == 503, answer.text
                refusals.append(answer.json()["detail"])
                time.sleep(0.5)
            codes = {detail["code"] for detail in refusals}
            assert codes == {"docker_unreachable"}, codes
            assert all(detail["should_wait"] for detail in refusals)
            status = client.get("/orchestrator/status").json()
            assert status["status"] != "healthy"
            assert status["provisioning"]["blocked_reason"] == "docker_unreachable"
            assert status["provisioning"]["circuit_breaker_state"] == "closed"  # not the image's fault
            relay.restore()
            back = time.monotonic()
            while True:
                answer = client.post("/provision/acestream", json={"labels": {"n": "y"}}, headers=AUTH)
                if answer.status_code == 200:
                    break
                assert answer.json()["detail"]["code"] == "docker_unreachable", answer.text
                assert time.monotonic() - back < 30, "provisioning did not resume"
                time.sleep(0.05)
            resumed = time.monotonic() - back
            harness.report_fault(
                f"Docker daemon away 20 s ({len(refusals)} refused docker_unreachable)",
                None,
                resumed,
                "daemon recheck 1 s (converged: provisioning resumed after it answered)",
            )
            after = client.get("/orchestrator/status").json()["provisioning"]
            assert after["circuit_breaker_state"] == "closed" and after["blocked_reason"] is None
    finally:
        relay.cut()
