"""Request bodies: at most MAX_BODY_BYTES (413 beyond), and JSON nested too deeply is a 400.

The JSON decoder stops at the interpreter's recursion limit with a RecursionError, which Litestar would
let through as a 500 with a traceback in the log; here it is the client's error, answered as such.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException

# The largest provision body the limits allow (64 labels and 64 variables, keys of 128 and values of 1,024
# plain characters) is about 148 kB; a body needs nothing beyond that.
MAX_BODY_BYTES = 256 * 1024


class BoundedRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise ClientException(
                "invalid request: the JSON body is nested too deeply (no request nests deeper than 2 levels)"
            ) from None
