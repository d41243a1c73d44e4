"""The one error type users see: a clear sentence that says what to do, printed as a single line."""


class VectraError(Exception):
    """A failure the user can act on (bad argument, missing file, port in use…). The CLI prints it as one line."""
