"""The engine cache policy on plain data: the flags and mounts each mode makes, how each image is told them,
the spec hash that follows the policy, and the reconciler's rule for an engine over its cap."""

from __future__ import annotations

import pytest
from reconcile_facts import engine, snapshot

from supervisor.core import reconcile as rc
from supervisor.core.cache import CLEANUP_MIN_DROP, over_cap, pruned
from supervisor.core.environment import CACHE_MOUNT, cache_flags, cache_mounts, engine_environment
from supervisor.core.ports import Slot
from supervisor.core.spec_hash import settings_hash
from supervisor.stack_settings import GIB, MIB, CacheMode, CacheSettings, PortStyle, StackSettings


def policy(mode: str, limit: str) -> CacheSettings:
    return CacheSettings.model_validate({"mode": mode, "limit": limit})


@pytest.mark.parametrize(
    ("mode", "limit", "flags", "mounts"),
    [
        ("disk", "4GiB", ["--cache-limit=4"], {}),
        ("disk", "5.5GiB", ["--cache-limit=5"], {}),  # whole GiB, rounded down: never above the cap
        (
            "memory",
            "256MiB",
            ["--live-cache-type=memory", f"--live-mem-cache-size={256 * MIB}"],
            {},
        ),
        (
            "memory",
            "2GiB",
            ["--live-cache-type=memory", f"--live-mem-cache-size={2 * GIB}", "--cache-limit=2"],
            {},
        ),
        (
            "tmpfs",
            "512MiB",
            [f"--cache-dir={CACHE_MOUNT}"],
            {CACHE_MOUNT: f"size={512 * MIB},mode=1777"},
        ),
        (
            "tmpfs",
            "3GB",  # decimal units are pydantic's ByteSize's too: 3e9 bytes, 2 whole GiB
            [f"--cache-dir={CACHE_MOUNT}", "--cache-limit=2"],
            {CACHE_MOUNT: "size=3000000000,mode=1777"},
        ),
    ],
)
def test_each_mode_makes_its_flags_and_mounts(
    mode: str, limit: str, flags: list[str], mounts: dict[str, str]
) -> None:
    assert cache_flags(policy(mode, limit)) == flags
    assert cache_mounts(policy(mode, limit)) == mounts


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (
            PortStyle.conf,
            {
                "CONF": "--http-port=6878\n--https-port=6879\n--bind-all\n--live-cache-type=memory\n"
                "--live-mem-cache-size=268435456",
                "HTTP_PORT": "6878",
                "HTTPS_PORT": "6879",
                "BIND_ALL": "true",
                "P2P_PORT": "8621",
            },
        ),
        (
            PortStyle.acestream_args,
            {
                "ACESTREAM_ARGS": "--http-port=6878 --https-port=6879 --port=8621 --bind-all "
                "--live-cache-type=memory --live-mem-cache-size=268435456"
            },
        ),
        (
            PortStyle.extra_flags,
            {
                "EXTRA_FLAGS": "--http-port=6878 --https-port=6879 --port=8621 --bind-all "
                "--live-cache-type=memory --live-mem-cache-size=268435456",
                "ALLOW_REMOTE_ACCESS": "yes",
            },
        ),
    ],
)
def test_each_image_is_told_its_cache_flags_the_way_it_takes_its_port_flags(
    style: PortStyle, expected: dict[str, str]
) -> None:
    flags = cache_flags(policy("memory", "256MiB"))
    assert engine_environment(style, 6878, 6879, 8621, flags) == expected


def test_the_spec_hash_follows_the_cache_policy(settings_for: object) -> None:
    def stack_with(cache: dict[str, str]) -> StackSettings:
        return settings_for("standalone", size=2, cache=cache)  # type: ignore[operator, no-any-return]

    slot = Slot(None, 0, 19000, 6878, 6879, 8621)
    hashes = {
        name: settings_hash(stack_with(cache), slot, "net")
        for name, cache in {
            "disk 4GiB": {"mode": "disk", "limit": "4GiB"},
            "disk 8GiB": {"mode": "disk", "limit": "8GiB"},
            "memory 4GiB": {"mode": "memory", "limit": "4GiB"},
            "tmpfs 4GiB": {"mode": "tmpfs", "limit": "4GiB"},
            "tmpfs 4.5GiB": {"mode": "tmpfs", "limit": "4.5GiB"},  # same flags, another mount size
        }.items()
    }
    assert len(set(hashes.values())) == len(hashes), hashes
    again = settings_hash(stack_with({"mode": "disk", "limit": "4096MiB"}), slot, "net")
    assert again == hashes["disk 4GiB"]  # the same policy written otherwise is the same engine


def test_a_drop_counts_as_a_cleanup_only_when_it_is_more_than_noise() -> None:
    assert pruned(None, 0) is False  # the first measure
    assert pruned(10 * MIB, 10 * MIB - CLEANUP_MIN_DROP + 1) is False
    assert pruned(10 * MIB, 10 * MIB - CLEANUP_MIN_DROP) is True
    assert pruned(10 * MIB, 20 * MIB) is False
    assert over_cap(None, 0) is False
    assert over_cap(GIB, GIB) is False and over_cap(GIB + 1, GIB) is True


def test_an_idle_engine_over_its_cap_is_replaced() -> None:
    plan = rc.plan(snapshot(engine("e1", cache_over_cap=True), minimum=1))
    assert plan.actions == (rc.Remove("e1", rc.DrainReason.cache_over_cap), rc.Create(1))


def test_a_busy_engine_over_its_cap_keeps_its_streams_and_takes_no_new_one() -> None:
    busy = engine("e1", cache_over_cap=True, streams=1, serving=True)
    plan = rc.plan(snapshot(busy, minimum=1, min_free=1))
    assert plan.actions[0] == rc.Drain("e1", rc.DrainReason.cache_over_cap)
    assert not any(isinstance(action, rc.Remove) for action in plan.actions)
    assert rc.Create(1) in plan.actions  # a free engine for the next viewer, at once


def test_a_drained_engine_over_its_cap_leaves_once_idle() -> None:
    drained = engine("e1", cache_over_cap=True, draining=True, withdrawn=True)
    assert rc.plan(snapshot(drained)).actions == (rc.Remove("e1", rc.Reason.drained),)


def test_an_engine_under_its_cap_or_unmeasured_is_left_alone() -> None:
    assert rc.plan(snapshot(engine("e1"), minimum=1)).actions == ()


def test_the_cap_is_checked_on_every_mode_bound() -> None:
    assert CacheSettings().mode is CacheMode.disk and CacheSettings().limit == 4 * GIB
    for mode, smallest in ((CacheMode.disk, GIB), (CacheMode.memory, 16 * MIB), (CacheMode.tmpfs, 16 * MIB)):
        assert CacheSettings(mode=mode, limit=smallest).limit == smallest  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=f"the range of mode {mode.value}"):
            CacheSettings(mode=mode, limit=smallest - 1)  # type: ignore[arg-type]
