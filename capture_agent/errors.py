"""The one error type users see: a clear sentence that says what to do, printed as a single line."""


class VectraError(Exception):
    """A failure the user can act on (bad argument, missing file, port in use…). The CLI prints it as one line."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): what a one-line error quotes."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
