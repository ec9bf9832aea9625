"""Static, dynamic, cache, both, each also mixed with an N-gram model: every figure of
docs/results.md's adaptation table from two passes over each text.

    python benchmarks/ptb_adapt.py MODEL_DIR --valid ptb.valid.txt --test ptb.test.txt --arpa kn5.arpa \
        --dynamic-lr 0.003 --dynamic-decay 0 --cache 2000 [--dynamic-form rms] [--json OUT.json]

What `rnnkit eval` computes mode by mode, here with the passes shared: the
cache does not change the model's scores or states, so the static pass and the
dynamic pass (rnnkit.lm.adapt.stream_log_probs with keep_states) give the
model's own log-probabilities and states, and the cache is run on those states
afterwards (cache_target_probs; tests/lm/test_adapt.py checks that this equals
the cache run while scoring). On the validation text it chooses the cache's θ
and λ for each pass and the N-gram mixture's weight for every mode; the test
text is read only after that. Times: each pass's own seconds (the cache's
added to its pass), tokens/s from them, and the load average beside them.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy

from rnnkit.lm import adapt
from rnnkit.lm.api import LanguageModel
from rnnkit.lm.data import encode_file
from rnnkit.lm.mix import load_compatible, tune_lambda
from rnnkit.ngram import read_text_lines, sentences_from_lines


def passes(lm, ids, dynamic):
    """{"static"|"dynamic": (model log p, states, seconds)}."""
    out = {}
    for name, d in (("static", None), ("dynamic", dynamic)):
        t0 = time.perf_counter()
        _, states, logp = adapt.stream_log_probs(lm.model, ids, lm.vocab.eos_id, d, keep_states=True)
        out[name] = (logp, states, time.perf_counter() - t0)
        print(f"  {name} pass: {ids.size / out[name][2]:.0f} tokens/s, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return out


def ngram_probs(lm, ngram, path, n):
    """P_ngram of every token, each line from <s> (rnnkit.lm.mix without its RNN pass)."""
    sentences, _ = sentences_from_lines(read_text_lines(path), lm.tokenizer, source=path)
    p = 10.0 ** numpy.concatenate(ngram.token_log10probs(sentences))
    if p.size != n or numpy.isnan(p).any():
        raise SystemExit(f"{path}: the N-gram model gives {p.size} probabilities for {n} tokens (or NaN)")
    return p


def with_cache(logp, states, ids, cache):
    t0 = time.perf_counter()
    p, has = adapt.cache_target_probs(states, ids, cache)
    return adapt.mix_log_probs(logp, p, has, cache.lam), time.perf_counter() - t0


def best_cache(logp, states, ids, size):
    best = None
    for theta in adapt.THETAS:
        p, has = adapt.cache_target_probs(states, ids, adapt.NeuralCache(size, theta, 0.0))
        for lam in adapt.LAMBDAS[1:]:
            ppl = math.exp(-adapt.mix_log_probs(logp, p, has, lam).mean())
            if best is None or ppl < best[0]:
                best = (ppl, adapt.NeuralCache(size, theta, lam))
    return best[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--valid", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--arpa", required=True)
    ap.add_argument("--dynamic-lr", type=float, required=True)
    ap.add_argument("--dynamic-decay", type=float, default=0.0)
    ap.add_argument("--dynamic-form", default="rms")
    ap.add_argument("--dynamic-bptt", type=int, default=20)
    ap.add_argument("--cache", type=int, default=2000)
    ap.add_argument("--json", metavar="OUT")
    a = ap.parse_args(argv)
    lm = LanguageModel.load(a.model)
    ngram = load_compatible(lm, a.arpa)
    dynamic = adapt.DynamicEval(a.dynamic_lr, a.dynamic_decay, a.dynamic_form, a.dynamic_bptt)

    # validation text: the cache's θ and λ per pass, the mixture's weight per mode
    valid_ids = encode_file(a.valid, lm.tokenizer, lm.vocab).ids
    print(f"validation {a.valid}: {valid_ids.size} tokens", file=sys.stderr)
    v = passes(lm, valid_ids, dynamic)
    caches = {name: best_cache(logp, states, valid_ids, a.cache) for name, (logp, states, _) in v.items()}
    valid_ngram = ngram_probs(lm, ngram, a.valid, valid_ids.size)
    valid_modes = _modes(v, caches, valid_ids)
    lambdas = {mode: tune_lambda(numpy.exp(logp), valid_ngram)[0] for mode, (logp, _) in valid_modes.items()}

    # test text
    test_ids = encode_file(a.test, lm.tokenizer, lm.vocab).ids
    print(f"test {a.test}: {test_ids.size} tokens", file=sys.stderr)
    t = passes(lm, test_ids, dynamic)
    test_ngram = ngram_probs(lm, ngram, a.test, test_ids.size)
    rows = []
    for mode, (logp, seconds) in _modes(t, caches, test_ids).items():
        p = numpy.exp(logp)
        lam = lambdas[mode]
        rows.append({
            "mode": mode, "test_perplexity": math.exp(-logp.mean()),
            "valid_perplexity": math.exp(-valid_modes[mode][0].mean()),
            "mixed_test_perplexity": math.exp(-numpy.log(lam * p + (1 - lam) * test_ngram).mean()),
            "mix_lambda": lam, "seconds": seconds, "tokens_per_second": test_ids.size / seconds,
            "dynamic": vars(dynamic) if "dynamic" in mode else None,
            "cache": vars(caches["dynamic" if "dynamic" in mode else "static"]) if "cache" in mode else None,
        })
    report = {"model": a.model, "test_tokens": int(test_ids.size), "valid_tokens": int(valid_ids.size),
              "ngram_test_perplexity": math.exp(-numpy.log(test_ngram).mean()), "load_average": os.getloadavg(),
              "rows": rows}
    text = json.dumps(report, indent=1)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(text)


def _modes(passes_, caches, ids):
    """{mode: (log p, seconds)} for static, cache, dynamic, dynamic+cache."""
    out = {}
    for name, (logp, states, seconds) in passes_.items():
        out[name] = (logp, seconds)
        mixed, extra = with_cache(logp, states, ids, caches[name])
        out["cache" if name == "static" else "dynamic+cache"] = (mixed, seconds + extra)
    return out


if __name__ == "__main__":
    main()
