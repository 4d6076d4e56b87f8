"""The one error type a user can cause; the CLI prints it without a traceback and exits non-zero."""


class UserError(Exception):
    """A problem the user can fix; the message names the file or field and the fix."""
