"""scripts/ensure-env.py, which `just up` runs: a missing .env gets fresh random keys, a missing VPN provider
file stops it with a clear message, and an existing .env is never overwritten."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from generator.paths import ROOT
from generator.render import render_profile, write

SCRIPT = ROOT / "scripts" / "ensure-env.py"


def ensure_env(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(directory)], capture_output=True, text=True)


def test_fresh_keys_then_a_clear_stop_for_the_vpn_file(tmp_path: Path) -> None:
    write(render_profile("single", tmp_path))
    first = ensure_env(tmp_path)
    assert first.returncode == 1
    assert f"{tmp_path / 'gluetun.env'}: missing (GLUETUN_ENV_FILE" in first.stderr
    env = dict(
        line.split("=", 1)
        for line in (tmp_path / ".env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert len(env["SUPERVISOR_API_KEY"]) >= 32 and len(env["GLUETUN_API_KEY"]) >= 32
    assert env["SUPERVISOR_API_KEY"] != env["GLUETUN_API_KEY"]
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600
    (tmp_path / "gluetun.env").write_text("VPN_SERVICE_PROVIDER=custom\n")
    before = (tmp_path / ".env").read_text()
    assert ensure_env(tmp_path).returncode == 0
    assert (tmp_path / ".env").read_text() == before


def test_without_a_rendered_stack_it_says_what_to_run(tmp_path: Path) -> None:
    result = ensure_env(tmp_path / "nothing")
    assert result.returncode == 1 and "run `gen render --profile nothing` first" in result.stderr
