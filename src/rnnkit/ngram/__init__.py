"""N-gram language models: interpolated Kneser-Ney estimation, ARPA files, queries.

The baseline the article argues against (docs/article.md §1): an
N-gram model predicts a word from the N-1 words before it and nothing else.
rnnkit builds one the way KenLM's ``lmplz`` and SRILM's ``ngram-count
-kndiscount -interpolate`` do, writes it as a standard ARPA file, and reads
any ARPA file (KenLM's and SRILM's included) to score text, predict the next
word, or mix with the RNN.

The package follows KenLM's division, one job per file:

    text.py         sentences, <s> and </s>, the id stream
    counts.py       counting n-grams; Kneser-Ney's adjusted counts
    estimate.py     discounts and interpolation: counts -> a model
    lookup.py       hashing n-grams, the probe table, the per-order table
    query.py        NgramModel: probabilities, the next word, predict
    evaluate.py     perplexity (ppl and ppl1, as SRILM's ngram -ppl)
    arpa_format.py  the format's constants and the side file
    arpa_read.py    the ARPA reader (plain or gzip)
    arpa_write.py   the ARPA writer (atomic; gzip for .gz)
    binary.py       the binary form (KenLM's build_binary): a safetensors file, memory-mapped

The model object is the API (what ``rnnkit ngram``, ``rnnkit eval --mix`` and
``rnnkit score`` call); results are dataclasses::

    from rnnkit.ngram import NgramModel, estimate, sentences_from_lines

    lm = NgramModel.load("kn5.arpa")       # any ARPA file; reads kn5.arpa.json if there
    lm.write_binary("kn5.bin"); NgramModel.load("kn5.bin")   # the binary form: loads in milliseconds
    lm.order, lm.vocab, lm.tokenizer, lm.open_vocabulary
    sents, _ = sentences_from_lines(lines, lm.tokenizer)      # token lists
    per_token = lm.token_log10probs(sents)  # one array per sentence: len(s) + 1
                                            # values, the last one is p(</s>);
                                            # NaN for a skipped OOV (closed vocab)
    report = lm.evaluate(sents)             # PerplexityReport: ppl, ppl1, oovs, perplexity(_without_unk)...
    scores, report = lm.score_sentences(sents)   # per token: log10 p, n-gram length (KenLM's full_scores)
    lm.evaluate_file("test.txt")            # TextPerplexity: the report and timings
    lm.predict("the stock", top=10)         # Prediction: context, NextWords
    lm.next_log10probs(["<s>", "the"])      # log10 p(w | context) for every vocab id
    lm.top_k(["<s>", "the"], 10)            # [(word, probability), ...]

    model = NgramModel.train("train.txt", order=5)   # modified KN; discount="kn" for plain; prune=[0, 1, 1]
    model.training_summary()                # TrainingSummary: counts, discounts, fallbacks
    model = estimate(sents, order=5)        # the same from token lists
    model.write_arpa("kn5.arpa")            # atomically, with kn5.arpa.json
"""

from rnnkit.ngram.arpa_format import SIDECAR_SUFFIX
from rnnkit.ngram.estimate import (
    DISCOUNT_METHODS,
    FALLBACK_DISCOUNTS,
    DiscountFallback,
    TrainingSummary,
    estimate,
    kn_discounts,
)
from rnnkit.ngram.evaluate import PerplexityReport, TextPerplexity
from rnnkit.ngram.query import NextWord, NgramModel, Prediction
from rnnkit.ngram.text import BOS, EOS, UNK, read_sentences, read_text_lines, sentences_from_lines

__all__ = [
    "BOS",
    "DISCOUNT_METHODS",
    "DiscountFallback",
    "EOS",
    "FALLBACK_DISCOUNTS",
    "NextWord",
    "NgramModel",
    "PerplexityReport",
    "Prediction",
    "SIDECAR_SUFFIX",
    "TextPerplexity",
    "TrainingSummary",
    "UNK",
    "estimate",
    "kn_discounts",
    "read_sentences",
    "read_text_lines",
    "sentences_from_lines",
]
