"""Model directories written by an earlier rnnkit still load and give the same perplexity.

tests/fixtures/old_models holds two tiny model directories written by rnnkit
before the trainer and the task classes were reorganised (a left-to-right model
with the class softmax and tied weights, and a two-layer cloze model), and the
perplexities that code measured on text.txt. Any change to how config.json is
read, how a model is rebuilt from it, or what the layers compute shows here.
"""

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "old_models"
TEXT = str(FIXTURES / "text.txt")


def test_old_left_to_right_model_gives_the_recorded_perplexity():
    from rnnkit.lm.api import LanguageModel

    r = LanguageModel.load(str(FIXTURES / "lm-class")).evaluate(TEXT)
    assert r["tokens"] == 145 and r["oov"] == 55
    assert r["perplexity"] == pytest.approx(15.470261142875882, rel=1e-6, abs=0)
    assert r["perplexity_without_unk"] == pytest.approx(26.911075993144635, rel=1e-6, abs=0)


def test_old_cloze_model_gives_the_recorded_perplexity():
    from rnnkit.lm.cloze import ClozeLM

    r = ClozeLM.load(str(FIXTURES / "cloze")).evaluate(TEXT)
    assert r["tokens"] == 134 and r["lines"] == 11
    assert r["perplexity"] == pytest.approx(8.364030325097097, rel=1e-6, abs=0)
    assert r["top1"] == pytest.approx(71 / 134) and r["top5"] == pytest.approx(99 / 134)
