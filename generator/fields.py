"""What each kind of profile value may be, checked by what it is, so no value can carry YAML, compose
interpolation or a path escape into the rendered stack.

Every rule is a pydantic type annotation: the error names the field, quotes a short excerpt of the value,
and says what to write instead.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, Strict

from generator.yaml_io import excerpt
from supervisor.core.environment import PORT_ENVIRONMENT

# --- names -------------------------------------------------------------------------------------------------

# A compose project or service name, and so a DNS label on the compose network: at most 63 characters.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
NAME_MAX = 63
StackName = Annotated[str, Strict(), Field(pattern=NAME_PATTERN, min_length=1, max_length=NAME_MAX)]
ServiceName = StackName

# Variables that already mean something to a process, to compose reading .env, or to the supervisor: a
# profile that named one as a key's variable would overwrite it (PATH: ${PATH:?...} in the supervisor).
RESERVED_ENV_NAMES = frozenset(
    {
        "PATH", "HOME", "HOSTNAME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "TERM", "LANG", "LANGUAGE",
        "TZ", "TMPDIR", "IFS", "MAIL", "UID", "GID", "ENV", "BASH_ENV", "GCONV_PATH", "LOCALDOMAIN",
        "HOSTALIASES", "RES_OPTIONS", "SSLKEYLOGFILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "FTP_PROXY", "SOCKS_PROXY",
    }
)  # fmt: skip
RESERVED_ENV_PREFIXES = (
    "ACE_SUPERVISOR_", "COMPOSE_", "DOCKER_", "BUILDKIT_", "BUILDX_", "LC_", "LD_", "GLIBC_", "MALLOC_",
    "PYTHON", "SSL_", "XDG_", "HTTP_CONTROL_SERVER_",
)  # fmt: skip
# .env variables ending so are read as VPN provider file paths (generator.stack_env), not as keys.
ENV_FILE_SUFFIX = "_ENV_FILE"
ENV_NAME_PATTERN = r"^[A-Z_][A-Z0-9_]*$"


def reserved_env_problem(name: str) -> str | None:
    """Why a variable name may not be one of the stack's, or None when it may."""
    upper = name.upper()
    if upper in RESERVED_ENV_NAMES:
        return f"{name} already means something to every process"
    prefix = next((p for p in RESERVED_ENV_PREFIXES if upper.startswith(p)), None)
    if prefix is not None:
        owner = "the supervisor's own settings" if prefix == "ACE_SUPERVISOR_" else "the system or compose"
        return f"names starting with {prefix} belong to {owner}"
    return None


def _not_reserved(name: str) -> str:
    problem = reserved_env_problem(name)
    if problem is None and name.endswith(ENV_FILE_SUFFIX):
        problem = f"names ending in {ENV_FILE_SUFFIX} name VPN provider files, not keys"
    if problem:
        raise ValueError(f"{problem}; choose a name of the stack's own, for example MY_STACK_API_KEY")
    return name


def _engine_variable(name: str) -> str:
    if name in RESERVED_ENV_NAMES or name.startswith(("LD_", "PYTHON")):
        raise ValueError(f"{name} already means something to every process; an engine may not be given it")
    if name in PORT_ENVIRONMENT:
        raise ValueError(f"{name} carries the engine's ports, which the supervisor sets from the plan")
    return name


# A variable a provision request may set on an engine (engine.allowed_env).
EngineEnvName = Annotated[
    str, Strict(), Field(pattern=ENV_NAME_PATTERN, max_length=64), AfterValidator(_engine_variable)
]

EnvName = Annotated[
    str, Strict(), Field(pattern=ENV_NAME_PATTERN, max_length=64), AfterValidator(_not_reserved)
]

# --- image references (Docker's reference grammar, distribution/reference) ---------------------------------

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[(?P<ipv6>[0-9a-fA-F:.]+)\])(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
# The registered algorithms fix their length and case (OCI image spec, "Digests").
_REGISTERED_DIGESTS = {"sha256": re.compile(r"[a-f0-9]{64}"), "sha512": re.compile(r"[a-f0-9]{128}")}
IMAGE_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
NAME_TOTAL_MAX = 255


def _reference(value: str) -> re.Match[str]:
    match = IMAGE_REFERENCE.fullmatch(value)
    if (
        match is None
        or len(match.group("name")) > NAME_TOTAL_MAX
        or not _digest_ok(match.group("digest"))
        or not _ipv6_ok(match.group("ipv6"))
    ):
        raise ValueError(
            f"{excerpt(value)} is not a Docker image reference; write it as [registry/]name[:tag][@digest], "
            "for example 'qmcgaw/gluetun:v3.41.1'"
        )
    return match


def _ipv6_ok(address: str | None) -> bool:
    try:
        return address is None or isinstance(ipaddress.ip_address(address), ipaddress.IPv6Address)
    except ValueError:
        return False


def _digest_ok(digest: str | None) -> bool:
    if digest is None:
        return True
    algorithm, _, encoded = digest.partition(":")
    pattern = _REGISTERED_DIGESTS.get(algorithm)
    return pattern is None or pattern.fullmatch(encoded) is not None


def _image(value: str) -> str:
    _reference(value)
    return value


def _pinned_image(value: str) -> str:
    match = _reference(value)
    if match.group("digest") is None and match.group("tag") in (None, "latest"):
        raise ValueError(
            f"{excerpt(value)} is not pinned; pin the gluetun image to a version tag or digest, "
            "for example 'qmcgaw/gluetun:v3.41.1'"
        )
    return value


ImageRef = Annotated[str, Strict(), AfterValidator(_image)]
PinnedImageRef = Annotated[str, Strict(), AfterValidator(_pinned_image)]

# --- addresses and paths -----------------------------------------------------------------------------------


def _ip(value: object) -> object:
    if not isinstance(value, str):
        return value  # the str type then refuses it
    try:
        address = ipaddress.ip_address(value)
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
            raise ValueError("scoped")  # "%zone" is free text: it would carry anything into the file
        return str(address)
    except ValueError:
        raise ValueError(
            f"{excerpt(value)} is not an IP address; give one such as 127.0.0.1 or ::1 (no %zone), "
            "or leave it unset"
        ) from None


HostIp = Annotated[str, Strict(), BeforeValidator(_ip)]

_PATH_PART = r"[A-Za-z0-9._+@-]+"
_RELATIVE_PATH = re.compile(rf"^{_PATH_PART}(?:/{_PATH_PART})*$")
PATH_MAX = 255


# The stack's own files: a VPN's provider file must not be one (gluetun would get every secret in .env).
STACK_FILES = frozenset({".env", ".env.example", "compose.yaml"})


def _parts(path: str) -> list[str]:
    return path.split("/")


def _relative_path(value: str) -> str:
    parts = _parts(value.removeprefix("./"))
    if (
        len(value) > PATH_MAX
        or not _RELATIVE_PATH.fullmatch(value)
        or any(part in (".", "..") for part in parts)
    ):
        raise ValueError(
            f"{excerpt(value)} is not a relative file path inside the stack; give one line such as "
            "./gluetun.env (letters, digits and . _ - + @, parts joined by /, no . or .. parts)"
        )
    if parts[-1] in STACK_FILES:
        raise ValueError(f"{excerpt(value)} is one of the stack's own files; give the VPN a file of its own")
    return value


RelativePath = Annotated[str, Strict(), AfterValidator(_relative_path)]

# The one variable a Docker socket path may start with: rootless Docker's runtime directory.
SOCKET_VARIABLE = "XDG_RUNTIME_DIR"
_SOCKET_PATH = re.compile(
    rf"^(?:/|\$\{{{SOCKET_VARIABLE}\}}/|\${SOCKET_VARIABLE}/){_PATH_PART}(?:/{_PATH_PART})*$"
)


def _socket_path(value: str) -> str:
    parts = _parts(value)[1:]
    if (
        len(value) > PATH_MAX
        or not _SOCKET_PATH.fullmatch(value)
        or any(part in (".", "..") for part in parts)
        or not value.endswith(".sock")
    ):
        raise ValueError(
            f"{excerpt(value)} is not a Docker socket path; give an absolute path to the socket, ending in "
            f".sock, such as /var/run/docker.sock, or ${{{SOCKET_VARIABLE}}}/docker.sock for rootless Docker"
        )
    return value.replace(f"${SOCKET_VARIABLE}/", f"${{{SOCKET_VARIABLE}}}/", 1)


SocketPath = Annotated[str, Strict(), AfterValidator(_socket_path)]
