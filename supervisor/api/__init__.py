"""The HTTP API: thin Litestar controllers over the supervisor's services; one error mapper."""
