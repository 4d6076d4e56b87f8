"""Whether a request's Accept-Encoding lets the cached read answers go out gzip-compressed (RFC 9110 12.5.3).

Werkzeug parses the header's grammar (lists, parameters, invalid q values ignored); the rules of content
negotiation are applied here, because a plain lookup of "gzip" is not them:

- no Accept-Encoding: identity. The RFC lets a server pick any coding then, but a client that says nothing
  is one that may not decode (curl without --compressed); Go's HTTP client, acexy's, says `gzip`.
- an explicit entry wins over `*`: `gzip;q=0, *` refuses gzip; `*` alone (q > 0) allows it.
- `x-gzip` is gzip (RFC 9110 8.4.1.3).
- identity stays acceptable unless the header excludes it (`identity;q=0`, or `*;q=0` with no entry for
  identity), but it has a preference only when the header gives it one, by name or through `*`: gzip is
  chosen when its q is above zero and not below that one. `gzip;q=0.8` alone asks for gzip, `gzip;q=0.5,
  identity` (or `gzip;q=0.5, *`) for identity first.

The verdict depends on the header's bytes alone, so it is remembered per value: proxies send the same one
on every request, and the parse then costs a dictionary lookup.
"""

from __future__ import annotations

from functools import lru_cache

from werkzeug.http import parse_accept_header

GZIP_NAMES = frozenset({"gzip", "x-gzip"})


@lru_cache(maxsize=256)  # a few distinct values in practice; bounded against a client inventing many
def gzip_accepted(accept_encoding: bytes | None) -> bool:
    """True when a request with this Accept-Encoding value (None: no such header) is to get gzip."""
    if accept_encoding is None:
        return False
    explicit: dict[str, float] = {}
    for coding, quality in parse_accept_header(accept_encoding.decode("latin-1")):
        explicit.setdefault(coding.lower(), quality)  # a coding named twice: its highest q (listed first)
    anything = explicit.get("*")
    named = [explicit[name] for name in GZIP_NAMES if name in explicit]
    gzip = max(named) if named else (anything or 0.0)
    identity = explicit.get("identity", anything or 0.0)  # 0: acceptable, asked for by no entry
    return gzip > 0 and gzip >= identity
