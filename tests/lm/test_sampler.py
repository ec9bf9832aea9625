"""Generation one token per call (LanguageModel.sampler): what a server interleaves with other requests."""

import pytest

import rnnkit
from rnnkit.errors import OptionError, RnnkitError


@pytest.fixture(scope="module")
def lm(trained_model):
    return rnnkit.LanguageModel.load(str(trained_model[0]))


@pytest.mark.parametrize("options", [dict(seed=3), dict(seed=5, temperature=0.7, top_k=4), dict(seed=1, top_p=0.8),
                                     dict(seed=2, temperature=0)])
def test_steps_give_the_text_generate_gives_even_with_other_calls_between_them(lm, options):
    whole = lm.generate("the cat", max_tokens=25, **options)
    sampler = lm.sampler("the cat", max_tokens=25, **options)
    assert sampler.prefix_tokens == ["the", "cat"] and sampler.tokens == []
    drawn = []
    while (token := sampler.step()) is not None:
        drawn.append(token)
        # other requests on the same model between two tokens: its state is the sampler's own
        lm.score(["a dog ran under the rug", "the"])
        lm.predict("the dog", top=2)
    assert drawn == whole.tokens and len(drawn) == 25
    result = sampler.result()
    assert result == whole and result.tokens == whole.tokens and result.seed == options["seed"]
    assert sampler.step() is None  # stays at its end


def test_a_sampler_checks_its_settings_and_prefix_before_any_model_work(lm):
    with pytest.raises(OptionError, match="max_tokens"):
        lm.sampler("the", max_tokens=0)
    with pytest.raises(RnnkitError, match="every token of the prefix is unknown"):
        lm.sampler("zzzq qqqz")
    sampler = lm.sampler("the", max_tokens=3)  # no seed: one is drawn and recorded
    assert isinstance(sampler.seed, int) and str(sampler.result()) == "the"  # nothing drawn yet
    assert list(sampler) == lm.generate("the", max_tokens=3, seed=sampler.seed).tokens
