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


# --- a preset that chooses its recipe by the speed measured here (presets.FITS) -------------


def test_a_fitting_preset_chooses_only_under_a_budget_and_with_none_of_its_options_typed():
    from rnnkit.lm.train.presets import FITS, fit_choices

    recipes = FITS["ptb-20min"]
    assert fit_choices({"preset": "ptb-20min"}, 20) is recipes
    assert fit_choices({"preset": "ptb-20min", "batch": 4, "hidden": None}, 20) is recipes  # others may be typed
    assert fit_choices({"preset": "ptb-20min"}, None) is None  # no minutes to fit
    for typed in ("hidden", "embed", "dropout", "anneal_from", "epochs"):
        assert fit_choices({"preset": "ptb-20min", typed: 1}, 20) is None, typed
    assert fit_choices({"preset": "zaremba-small"}, 20) is None and fit_choices({}, 20) is None
    for epochs, recipe in recipes:  # each recipe is a valid set of options on top of its preset
        opts = resolve_options({"preset": "ptb-20min", **recipe})
        assert epochs <= opts["epochs"] and opts["embed"] == opts["hidden"]
    assert [r["hidden"] for _, r in recipes] == sorted((r["hidden"] for _, r in recipes), reverse=True)


@pytest.mark.parametrize("rates, chosen", [
    ({350: 1e9, 300: 1e9, 200: 1e9}, 350),  # all fit: the widest
    ({350: 1.0, 300: 1e9, 200: 1e9}, 300),  # the widest is too slow: the next
    ({350: 1.0, 300: 1.0, 200: 1.0}, 200),  # none fits: the last
])
def test_the_first_recipe_whose_epochs_fit_the_minutes_is_kept(corpus, tmp_path, monkeypatch, rates, chosen):
    from rnnkit.lm.train import trainer as trainer_module

    probed = []

    def probe(self, opts):
        probed.append(opts["hidden"])
        return rates[opts["hidden"]]

    monkeypatch.setattr(trainer_module.Trainer, "_probe", probe)
    train, valid = corpus
    lines = []
    result = trainer_module.train(str(train), str(valid), str(tmp_path / "m"), {"preset": "ptb-20min", "batch": 4},
                                  max_minutes=0.02, log=lines.append)
    assert probed == [h for h in (350, 300, 200) if h >= chosen]
    model = json.loads((tmp_path / "m" / "config.json").read_text())["model"]
    assert (model["hidden"], model["embed"]) == (chosen, chosen)
    assert sum(line.startswith("preset ptb-20min: gru 1x") for line in lines) == len(probed)
    assert result.epochs >= 0


def test_the_probe_measures_training_and_a_resumed_run_does_not_choose_again(corpus, tmp_path):
    from rnnkit.lm.train import trainer as trainer_module

    train, valid = corpus
    out = tmp_path / "m"
    lines = []
    trainer_module.train(str(train), str(valid), str(out), {"preset": "ptb-20min", "batch": 4, "epochs": None},
                         max_minutes=0.01, log=lines.append)
    speeds = [line for line in lines if line.startswith("preset ptb-20min:")]
    assert speeds and all(" tokens/s here; its 8 epochs need " in line for line in speeds)
    hidden = json.loads((out / "config.json").read_text())["model"]["hidden"]
    again = []
    trainer_module.train(str(train), str(valid), str(out), {"preset": "ptb-20min", "batch": 4}, resume=True,
                         max_minutes=0.01, log=again.append)
    assert not any(line.startswith("preset ptb-20min:") for line in again)
    assert json.loads((out / "config.json").read_text())["model"]["hidden"] == hidden
