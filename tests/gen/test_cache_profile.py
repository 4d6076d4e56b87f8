"""The profile's engine cache policy through the CLI: a bad size or mode is refused naming the field and
the fix (no traceback, nothing written), and a good one reaches the supervisor's rendered settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gen.conftest import RunGen, WriteProfile, gen_in
from gen.profiles_data import SINGLE, STANDALONE
from ruamel.yaml import YAML

from supervisor.stack_settings import SETTINGS_CONFIG_NAME, StackSettings


def with_cache(base: dict[str, Any], cache: object, **timings: object) -> dict[str, Any]:
    engine = {**base.get("engine", {}), "cache": cache}
    return {**base, "engine": engine, **({"timings": timings} if timings else {})}


BAD = {
    "not a size": (
        {"limit": "4 gigs"},
        ["engine.cache.limit: '4 gigs' is not a size", "such as 4GiB or 512MiB"],
    ),
    "a boolean": ({"limit": True}, ["engine.cache.limit: a bool is not a size"]),
    "negative": ({"limit": -1}, ["engine.cache.limit: '-1' is not a size"]),
    "below the disk mode's whole GiB": (
        {"mode": "disk", "limit": "512MiB"},
        ["engine.cache.limit: 512.0MiB is outside 1.0GiB-1TiB, the range of mode disk", "such as 4GiB"],
    ),
    "too small for a memory cache": (
        {"mode": "memory", "limit": "1MiB"},
        ["engine.cache.limit: 1.0MiB is outside 16.0MiB-1TiB, the range of mode memory", "such as 256MiB"],
    ),
    "beyond a tebibyte": ({"mode": "tmpfs", "limit": "2TiB"}, ["engine.cache.limit: 2.0TiB is outside"]),
    "unknown mode": (
        {"mode": "ram", "limit": "1GiB"},
        ["engine.cache.mode: Input should be 'disk', 'memory' or 'tmpfs' (got 'ram')"],
    ),
    "unknown key": ({"size": "1GiB"}, ["engine.cache.size: unknown key; allowed here: limit, mode"]),
    "not a mapping": ("4GiB", ["engine.cache: Input should be a valid dictionary", "(got '4GiB')"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_cache_policy_is_refused_naming_the_field_and_the_fix(
    case: str, run_gen: RunGen, write_profile: WriteProfile, tmp_path: Path
) -> None:
    cache, expected = BAD[case]
    profile = write_profile(with_cache(STANDALONE, cache))
    result = run_gen("render", "--profile", str(profile), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1, result.output
    for fragment in expected:
        assert fragment in result.output
    assert "Traceback" not in result.output and "pydantic" not in result.output
    assert not (tmp_path / "out").exists(), "nothing is written for a bad profile"


def test_a_bad_check_interval_is_refused(
    run_gen: RunGen, write_profile: WriteProfile, tmp_path: Path
) -> None:
    profile = write_profile(with_cache(STANDALONE, {"mode": "disk"}, cache_check_interval_s=0))
    result = run_gen("render", "--profile", str(profile), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1 and "timings.cache_check_interval_s: Input should be greater than 0" in (
        result.output
    )
    assert not (tmp_path / "out").exists()


def test_one_bad_profile_among_several_writes_none_of_them(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    for name, cache in (("good", {"mode": "memory", "limit": "256MiB"}), ("bad", {"limit": "lots"})):
        with (profiles / f"{name}.yaml").open("w") as handle:
            YAML(typ="safe", pure=True).dump({**with_cache(SINGLE, cache), "stack": name}, handle)
    result = gen_in(tmp_path, "render", "--all")
    assert result.exit_code == 1 and "engine.cache.limit: 'lots' is not a size" in result.output
    assert not (tmp_path / "generated").exists()


def rendered_settings(out: Path) -> StackSettings:
    compose = YAML(typ="safe").load((out / "compose.yaml").read_text())
    return StackSettings.model_validate(json.loads(compose["configs"][SETTINGS_CONFIG_NAME]["content"]))


def test_the_policy_reaches_the_supervisors_settings_in_bytes(
    run_gen: RunGen, write_profile: WriteProfile, tmp_path: Path
) -> None:
    cache = {"mode": "tmpfs", "limit": "1.5 GiB"}
    profile = write_profile(with_cache(SINGLE, cache, cache_check_interval_s=90))
    result = run_gen("render", "--profile", str(profile), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    settings = rendered_settings(tmp_path / "out")
    assert settings.engine.cache.mode.value == "tmpfs" and settings.engine.cache.limit == 3 << 29
    assert settings.timings.cache_check_interval_s == 90
    explained = run_gen("explain", "--profile", str(profile)).output
    assert "Engine cache: tmpfs, limit 1.5GiB (measured every 90 s" in explained


def test_without_a_policy_engines_get_the_default_cap(
    run_gen: RunGen, write_profile: WriteProfile, tmp_path: Path
) -> None:
    result = run_gen("render", "--profile", str(write_profile(STANDALONE)), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    cache = rendered_settings(tmp_path / "out").engine.cache
    assert (cache.mode.value, cache.limit) == ("disk", 4 << 30)
