"""The engine stand-in reads the cache flags each image hands it, as it reads their port flags."""

from __future__ import annotations

import importlib.util
import os

import pytest
from bench.images import STANDINS

from supervisor.core.environment import cache_flags, engine_environment
from supervisor.stack_settings import CacheSettings, PortStyle


def standin() -> object:
    spec = importlib.util.spec_from_file_location(
        "acestream_standin", STANDINS / "engine" / "acestream_standin.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("style", list(PortStyle))
@pytest.mark.parametrize(
    ("cache", "expected"),
    [
        ({"mode": "disk", "limit": "4GiB"}, {"cache_limit": 4, "live_cache_type": None}),
        (
            {"mode": "memory", "limit": "64MiB"},
            {"live_cache_type": "memory", "live_mem_cache_size": 64 << 20, "cache_limit": None},
        ),
        ({"mode": "tmpfs", "limit": "2GiB"}, {"cache_dir": "/acestream-cache", "cache_limit": 2}),
    ],
)
def test_the_standin_reads_the_cache_flags_each_image_is_given(
    style: PortStyle, cache: dict[str, str], expected: dict[str, object]
) -> None:
    module = standin()
    environment = engine_environment(
        style, 6878, 6879, 8621, cache_flags(CacheSettings.model_validate(cache))
    )
    read = module.parse_cache(module.engine_flags([], environment))  # type: ignore[attr-defined]
    assert {key: read[key] for key in expected} == expected
    if "cache_dir" not in expected:  # the engine's own default directory
        assert read["cache_dir"] == os.path.expanduser("~/.ACEStream/.acestream_cache")
