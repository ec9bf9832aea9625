"""`rnnkit train --preset NAME`: a recipe's options under the ones given."""

import json

import pytest

from rnnkit.errors import OptionError
from rnnkit.lm.train import DEFAULTS
from rnnkit.lm.train.options import resolve_options
from rnnkit.lm.train.presets import PRESETS


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_is_a_valid_set_of_options_and_is_applied(name):
    opts = resolve_options({"preset": name})
    for key, value in PRESETS[name].items():
        assert key in DEFAULTS and opts[key] == value, key
    assert opts["preset"] == name


def test_the_options_given_win_over_the_preset():
    opts = resolve_options({"preset": "zaremba-medium", "hidden": 32, "epochs": 2, "dropout": None})
    assert (opts["hidden"], opts["epochs"], opts["dropout"], opts["cell"]) == (32, 2, 0.5, "lstm")


def test_without_a_preset_nothing_changes():
    assert resolve_options({}) == resolve_options({"preset": None})
    assert resolve_options({})["cell"] == DEFAULTS["cell"]


def test_an_unknown_preset_is_an_option_error():
    with pytest.raises(OptionError, match="zaremba-large"):
        resolve_options({"preset": "zaremba-large"})


def test_the_command_line_trains_the_preset_with_its_flags_on_top(corpus, tmp_path):
    from rnnkit.cli import main

    train, valid = corpus
    out = tmp_path / "m"
    assert main(["train", str(train), "--valid", str(valid), "--out", str(out), "--preset", "ptb-20min",
                 "--hidden", "8", "--embed", "8", "--epochs", "1", "--batch", "4", "--quiet"]) == 0
    model = json.loads((out / "config.json").read_text())["model"]
    assert (model["cell"], model["tie_weights"], model["dropout"], model["hidden"]) == ("gru", True, 0.4, 8)
