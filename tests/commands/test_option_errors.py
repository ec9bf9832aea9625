"""Library errors name options by keyword; the CLI alone renders them as flags."""

import pytest

from rnnkit.cli import build_parser, flag_of, render
from rnnkit.errors import OptionError, RnnkitError, UsageError


def _sub(name):
    parser = build_parser()
    return next(a for a in parser._subparsers._actions if a.choices)._name_parser_map[name]


def test_option_error_reads_without_flags():
    e = OptionError("{top} must be a positive integer, got 0", "top")
    assert str(e) == "option 'top' must be a positive integer, got 0" and "--" not in str(e)
    assert isinstance(e, UsageError) and isinstance(e, RnnkitError) and e.exit_code == 2 and e.option == "top"
    both = OptionError("{tie_weights} needs {embed} equal to {hidden}", "tie_weights", "embed", "hidden")
    assert str(both) == "option 'tie_weights' needs option 'embed' equal to option 'hidden'"
    assert str(OptionError("{lam} got {2}", "lam")) == "option 'lam' got {2}"  # other braces are literal


def test_cli_renders_the_commands_own_flag():
    assert flag_of(_sub("score"), "lam") == "--lambda"  # dest differs from the flag
    assert flag_of(_sub("generate"), "max_tokens") == "--max-tokens"
    assert flag_of(None, "top_k") == "--top-k"
    both = OptionError("{tie_weights} needs {embed} equal to {hidden}", "tie_weights", "embed", "hidden")
    assert render(both, _sub("train")) == "--tie-weights needs --embed equal to --hidden"
    assert render(OptionError("{lam} must be in [0, 1]", "lam"), _sub("eval")) == "--lambda must be in [0, 1]"
    assert render(RnnkitError("plain")) == "plain"


@pytest.mark.parametrize("argv, line", [
    (["score", "M", "--nbest", "--mix", "x.arpa", "--lambda", "1.5"],
     "rnnkit score: error: --lambda must be in [0, 1], got 1.5"),
    (["generate", "M", "--max-tokens", "0"], "rnnkit generate: error: --max-tokens must be a positive integer, got 0"),
    (["generate", "M", "--top-k", "0"], "rnnkit generate: error: --top-k must be a positive integer, got 0"),
])
def test_option_errors_on_the_command_line(capsys, argv, line):
    from rnnkit.cli import main

    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == line


def test_a_missing_jieba_names_the_option_and_stays_exit_code_1(monkeypatch):
    import sys

    from rnnkit.lm import tokenize

    monkeypatch.setattr(tokenize, "_jieba", None)
    monkeypatch.setitem(sys.modules, "jieba", None)  # import jieba now raises ImportError
    with pytest.raises(RnnkitError) as exc:
        tokenize.get_tokenizer("jieba")("我")
    assert exc.value.exit_code == 1 and str(exc.value).startswith("option 'tokenizer' jieba needs the jieba package")
    assert render(exc.value).startswith("--tokenizer jieba needs the jieba package: pip install")
