"""`rnnkit generate`: the seed it used, streamed tokens, --top-p and --num-samples."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from lm_helpers import cli
from rnnkit.lm.api import LanguageModel
from rnnkit.lm.generate import join_tokens, sample_next


def test_the_seed_is_printed_when_none_is_given_and_gives_the_text_again(trained_model, capsys):
    model = trained_model[0]
    code, text, err = cli(capsys, "generate", model, "--max-tokens", 15)
    assert code == 0 and err.startswith("rnnkit generate: seed ")
    seed = err.split()[3]
    _, again, err2 = cli(capsys, "generate", model, "--max-tokens", 15, "--seed", seed)
    assert again == text and err2 == ""  # a given seed is not repeated back


def test_num_samples_are_the_texts_of_consecutive_seeds(trained_model, capsys):
    model = trained_model[0]
    _, both, _ = cli(capsys, "generate", model, "--max-tokens", 12, "--seed", 4, "--num-samples", 2)
    _, first, _ = cli(capsys, "generate", model, "--max-tokens", 12, "--seed", 4)
    _, second, _ = cli(capsys, "generate", model, "--max-tokens", 12, "--seed", 5)
    assert both == first + "\n" + second and first != second


def test_tokens_stream_through_on_token(trained_model):
    lm = LanguageModel.load(str(trained_model[0]))
    seen = []
    g = lm.generate("the small", max_tokens=25, seed=3, on_token=seen.append)
    assert seen[:2] == ["the", "small"] and seen[2:] == g.tokens
    assert join_tokens(seen, lm.tokenizer) == g.text


def test_top_p_keeps_the_fewest_tokens_reaching_p():
    logp = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    draws = {sample_next(logp, np.random.default_rng(s), top_p=0.8) for s in range(300)}
    assert draws == {0, 1}  # 0.5 + 0.3 reaches 0.8
    draws = {sample_next(logp, np.random.default_rng(s), top_p=0.81) for s in range(300)}
    assert draws == {0, 1, 2}
    assert {sample_next(logp, np.random.default_rng(s), top_p=0.1) for s in range(50)} == {0}
    assert {sample_next(logp, np.random.default_rng(s), top_p=1.0) for s in range(400)} == {0, 1, 2, 3}


def test_top_p_on_the_command_line(trained_model, capsys):
    model = trained_model[0]
    _, nucleus, _ = cli(capsys, "generate", model, "--seed", 1, "--top-p", 1e-9, "--max-tokens", 5, "--prefix", "a")
    _, greedy, _ = cli(capsys, "generate", model, "--temperature", 0, "--max-tokens", 5, "--prefix", "a")
    assert nucleus == greedy  # only the most likely token reaches a tiny p
    code, _, err = cli(capsys, "generate", model, "--top-p", 0)
    assert code == 2 and err.strip() == "rnnkit generate: error: --top-p must be in (0, 1], got 0.0"
    code, _, err = cli(capsys, "generate", model, "--num-samples", 0)
    assert code == 2 and "--num-samples must be a positive integer" in err


def test_a_huge_max_tokens_prints_at_once(trained_model):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.join(os.path.dirname(__file__), "..", "..", "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "rnnkit.cli", "generate", str(trained_model[0]), "--seed", "1",
                             "--max-tokens", "1000000000"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        start = time.monotonic()
        first = proc.stdout.read(40)  # returns once 40 bytes came: long before a billion tokens
        assert len(first) == 40 and time.monotonic() - start < 120
    finally:
        proc.kill()
        proc.wait()
