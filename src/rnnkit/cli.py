"""The `rnnkit` command: a thin dispatcher over the modules in rnnkit.commands.

Each command module defines NAME, HELP, ``add_arguments(parser)`` and
``run(args) -> int``. Errors meant for the user (RnnkitError) become one line on
stderr and a non-zero exit code, never a traceback. Library code names a bad
option by its keyword (OptionError("{top} must be ...", "top")); here alone it
becomes the command's flag (--top).
"""

import argparse
import importlib
import sys

from rnnkit import __version__, blas_env
from rnnkit.errors import RnnkitError

# Before any command module imports NumPy: OpenBLAS reads its settings when it loads.
blas_env.apply()

# Module names under rnnkit.commands, in the order `rnnkit --help` lists them.
COMMANDS = [
    "demo",
    "prepare",
    "train",
    "eval",
    "predict",
    "generate",
    "score",
    "fill",
    "ngram",
    "serve",
    "gradcheck",
    "gradflow",
    "plot",
]


def _load_commands(names=COMMANDS):
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(f"rnnkit.commands.{name}"))
        except ModuleNotFoundError as exc:
            # A command whose module is not written yet is simply not offered;
            # a missing third-party import inside a written module is a real bug.
            if exc.name != f"rnnkit.commands.{name}":
                raise
    return modules


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse's own usage errors: one line plus usage, exit code 2.
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _innermost(parser):
    """Let a command's own subcommands (rnnkit ngram eval) stand for it in errors: each sets itself as _parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(_parser=sub)
                _innermost(sub)


def build_parser(only=None):
    """The parser of every command, or of the command ``only`` alone (what ``main`` runs
    needs only its own module: importing all of them costs a second or more of start-up)."""
    parser = _Parser(prog="rnnkit", description="Recurrent networks and RNN language models on NumPy.")
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _load_commands([only] if only in COMMANDS else COMMANDS):
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _parser=p)
        _innermost(p)
    return parser


def flag_of(parser, option):
    """The command-line flag of the option whose keyword is ``option`` (argparse's dest): "--lambda" for "lam"."""
    for action in getattr(parser, "_actions", []):
        if action.dest == option and action.option_strings:
            return next((s for s in action.option_strings if s.startswith("--")), action.option_strings[0])
    return "--" + option.replace("_", "-")


def render(exc, parser=None):
    """The one line a user reads for ``exc``: options named by this command's flags."""
    return exc.cli_message(lambda option: flag_of(parser, option))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=argv[0] if argv else None)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args._run(args) or 0
    except RnnkitError as exc:  # UsageError included; options named as this command's flags
        # the parser's prog names the subcommand as typed: "rnnkit eval", "rnnkit ngram eval"
        print(f"{args._parser.prog}: error: {render(exc, args._parser)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{args._parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
