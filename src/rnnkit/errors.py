"""Errors that the command line turns into one-line messages instead of tracebacks."""


class RnnkitError(Exception):
    """A problem with the user's input or files: printed as one line, exit code 1."""

    exit_code = 1


class UsageError(RnnkitError):
    """A nonsense option value or a missing argument: exit code 2, as argparse uses."""

    exit_code = 2
