"""Errors that the command line turns into one-line messages instead of tracebacks.

Library code names options by their own names ("option 'lr'"); only the
command line knows them as flags. An error that names options keeps them apart
from its message, so that rnnkit.cli can say ``--lr`` where the library says
``option 'lr'``:

    exc = OptionError("{lr} must be a positive number, got -1", "lr")
    str(exc)            -> "option 'lr' must be a positive number, got -1"
    exc.cli_message()   -> "--lr must be a positive number, got -1"
    exc.option          -> "lr"

The message holds ``{name}`` for each option it names; any other text in it,
braces included, is printed as it is. Where the library's way of asking for
something is not "option 'name'" (a keyword turned off: ``verify=False``, the
flag ``--no-verify``), ``words`` gives the library's wording:

    RnnkitError("... refused; {verify} accepts it", "verify", words={"verify": "verify=False"})
"""


def flag(option):
    """The command-line flag of an option name: max_vocab -> --max-vocab."""
    return "--" + option.replace("_", "-")


class OptionText:
    """A message that names options: ``template`` holds ``{name}`` for each name in ``options``.

    Shared by the errors below and by anything else whose message the command
    line words differently from the library (rnnkit.lm.train's Result).
    """

    def __init__(self, message="", options=(), words=None):
        self.template, self.options = str(message), tuple(options)
        self.option = self.options[0] if self.options else None
        self.words = dict(words or {})

    def library_message(self):
        """The options named as the library names them: "option 'lr'" (or as ``words`` says)."""
        return self._fill(lambda name: self.words.get(name, f"option {name!r}"))

    def _fill(self, word):
        text = self.template
        for name in self.options:
            text = text.replace("{" + name + "}", word(name))
        return text

    def cli_message(self, flag_of=flag):
        """The one line the command line prints: the options named as flags
        (``flag_of(name)``: rnnkit.cli passes the command's own, e.g. lam -> --lambda)."""
        return self._fill(flag_of)


class RnnkitError(OptionText, Exception):
    """A problem with the user's input or files: printed as one line, exit code 1.

    ``options``: the names of the options the message names (see above); the
    first is ``option`` (None when it names none). ``words``: the library's
    wording of some of them, where "option 'name'" is not it.
    """

    exit_code = 1

    def __init__(self, message="", *options, words=None):
        OptionText.__init__(self, message, options, words)
        Exception.__init__(self, self.library_message())


class UsageError(RnnkitError):
    """A nonsense option value or a missing argument: exit code 2, as argparse uses."""

    exit_code = 2


class OptionError(UsageError):
    """A bad value of one or more named options (``option``: the first)."""

    def __init__(self, message, option, *more):
        super().__init__(message, option, *more)


class WriteError(RnnkitError, OSError):
    """A file could not be written (disk full, a read-only directory): one line for the
    user, and still an OSError for code that catches those."""
