"""The query model: an N-gram model in ARPA's back-off form, and what it answers
(the probability of every token of a text, the next word after a context).

ARPA representation (back-off form)
-----------------------------------
An ARPA file lists, for every n-gram seen in training, log10 p(w | h), and
for every n-gram that is a context the back-off weight log10 b(h). A query
for an n-gram that is not listed backs off:

    p(w | h) = p(w | h)               if h w is listed
             = b(h) p(w | h')         otherwise (b(h) = 1 if h is not listed)

For an interpolated model b(h) = gamma(h) (estimate.py) reproduces the
interpolated formula exactly. Queries follow KenLM and SRILM: an n-gram is
only looked up if its context was found, so the matched history only grows
one word at a time.

Vocabulary
----------
- closed vocabulary (default, as SRILM without ``-unk``): the vocabulary is
  the training words. A literal ``<unk>`` token in the corpus (the Penn
  Treebank has them) is an ordinary word. When scoring, a word outside the
  vocabulary is an OOV: it gets no probability, is left out of the perplexity
  and cuts the history (SRILM's ``ngram -ppl``).
- open vocabulary (what KenLM always does and SRILM's ``-unk``): ``<unk>`` is
  in the model and receives a share of the probability mass; words outside
  the vocabulary are scored as ``<unk>`` and counted in the perplexity.
"""

from dataclasses import dataclass
from itertools import chain, repeat

import numpy as np

from rnnkit.errors import OptionError, RnnkitError
from rnnkit.lm.tokenize import get_tokenizer
from rnnkit.ngram import arpa_format, arpa_read, arpa_write, binary
from rnnkit.ngram.evaluate import perplexity, perplexity_of_file, score_sentences
from rnnkit.ngram.lookup import ProbeTable, hash_step
from rnnkit.ngram.text import BOS, EOS, UNK, sentence_stream


@dataclass
class NextWord:
    """One predicted token and its probability."""

    token: str
    probability: float


@dataclass
class Prediction:
    """The most probable next tokens after a prefix (``NgramModel.predict``).

    ``context`` holds the tokens the model used (at most order - 1, ``<s>``
    included), ``out_of_vocabulary`` those of them it does not know,
    ``predictions`` the NextWords, best first.
    """

    prefix: str
    order: int
    context: list
    out_of_vocabulary: list
    predictions: list

    def as_dict(self):
        return {
            "prefix": self.prefix,
            "context": self.context,
            "out_of_vocabulary": self.out_of_vocabulary,
            "predictions": [{"token": p.token, "probability": p.probability} for p in self.predictions],
        }


class NgramModel:
    """A back-off N-gram model: estimated here or read from any ARPA file.

    Attributes: ``order``, ``vocab`` (list of words; a word's id is its index),
    ``word_index`` (word -> id), ``tokenizer``, ``open_vocabulary``,
    ``estimation`` (discounts and counts when estimated here, or as recorded in
    the side file; None otherwise), ``source`` (the file it was read from).
    """

    def __init__(self, vocab, tables, tokenizer="word", open_vocabulary=None, estimation=None, source=None):
        self.vocab = list(vocab)
        self.word_index = {w: i for i, w in enumerate(self.vocab)}
        if len(self.word_index) != len(self.vocab):
            raise RnnkitError("duplicate words in the vocabulary")
        self.tables = tables
        self.order = len(tables)
        self.tokenizer = tokenizer
        self.unk_id = self.word_index.get(UNK, -1)
        self.bos_id = self.word_index.get(BOS, -1)
        self.eos_id = self.word_index.get(EOS, -1)
        if self.bos_id < 0 or self.eos_id < 0:
            where = f"{source}: " if source else ""
            raise RnnkitError(f"{where}the model has no {BOS if self.bos_id < 0 else EOS} unigram")
        if open_vocabulary is None:
            open_vocabulary = self.unk_id >= 0
        if open_vocabulary and self.unk_id < 0:
            raise RnnkitError(f"an open-vocabulary model needs {UNK} among its unigrams")
        self.open_vocabulary = bool(open_vocabulary)
        self.estimation = estimation
        self.source = source
        self.sidecar = None  # the side file it was read with, if any
        self.binary = False  # read from a binary file (write_binary)
        self._unigram_hash = None  # the lookup index is built on the first query

    @classmethod
    def load(cls, path, tokenizer=None):
        """Read a model: an ARPA file (plain or gzip) with its side file ``path + '.json'``
        if present, or a binary file of ``write_binary`` (recognised by its content).

        ``tokenizer`` (a name) overrides the model's: refused if the side file
        records another one; without a side file it is taken as given.
        """
        if binary.is_binary(path):
            vocab, tables, record = binary.read_binary(path)
            model = cls(
                vocab, tables, record.get("tokenizer", "word"), record.get("unk"), record.get("estimation"), source=path
            )
            model.sidecar = path  # the record travels inside the file
            model.binary = True
        else:
            contents = arpa_read.read_arpa(path)
            model = cls(
                contents.vocab,
                contents.tables,
                contents.tokenizer,
                contents.open_vocabulary,
                contents.estimation,
                source=path,
            )
            model.sidecar = contents.sidecar
        if tokenizer is not None:
            if model.sidecar is not None:
                model.check_compatible(tokenizer)
            get_tokenizer(tokenizer)
            model.tokenizer = tokenizer
        return model

    @classmethod
    def train(cls, corpus, order, discount="modified-kn", open_vocabulary=False, tokenizer="word", prune=None):
        """Estimate an interpolated (modified) Kneser-Ney model from a text file, one sentence per line
        (prune: count-pruning thresholds per order, as lmplz's --prune)."""
        from rnnkit.ngram.estimate import train_file  # estimate builds NgramModels: imported on use

        return train_file(corpus, order, discount, open_vocabulary, tokenizer, prune)

    def training_summary(self):
        """A TrainingSummary of an estimated model (counts, discounts, fallbacks)."""
        from rnnkit.ngram.estimate import TrainingSummary

        return TrainingSummary.of(self)

    # -- the lookup index ----------------------------------------------------

    def _index(self):
        """Hash every entry (chained through its prefix) and build the probe tables."""
        if self._unigram_hash is not None:
            return
        unigram_hash = hash_step(np.zeros(len(self.vocab), dtype=np.uint64), np.arange(len(self.vocab)))
        hashes = unigram_hash
        if all(t.probe is not None for t in self.tables[1:]):  # read from a binary file: built already
            self._unigram_hash = unigram_hash
            return
        for k in range(2, self.order + 1):
            table = self.tables[k - 1]
            reachable = table.prefix >= 0
            h = np.zeros(len(table), dtype=np.uint64)
            # Unreachable entries keep hash 0; their prefix -2 never matches a lookup.
            h[reachable] = hash_step(hashes[table.prefix[reachable]], table.word[reachable])
            table.hash = h
            table.probe = ProbeTable(h)
            hashes = h
        self._unigram_hash = unigram_hash

    # -- scoring -------------------------------------------------------------

    def encode(self, tokens):
        """Word ids of tokens; an OOV becomes <unk> (open vocabulary) or -1 (closed)."""
        missing = self.unk_id if self.open_vocabulary else -1
        get = self.word_index.get
        return [get(w, missing) for w in tokens]

    def id_stream(self, sentences):
        """Id stream of the sentences with <s> and </s>, depths, sentence starts and lengths, OOV mask."""
        lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        flat = np.fromiter(
            map(self.word_index.get, chain.from_iterable(sentences), repeat(-1)),
            dtype=np.int64,
            count=int(lengths.sum()),
        )
        oov = flat < 0
        if self.open_vocabulary:
            flat[oov] = self.unk_id
        ids, depth, starts, is_word = sentence_stream(flat, lengths, self.bos_id, self.eos_id)
        oov_stream = np.zeros(len(ids), dtype=bool)
        oov_stream[is_word] = oov
        return ids, depth, starts, lengths, oov_stream

    def score_ids(self, ids, depth, with_lengths=False):
        """log10 p(ids[i] | history) at every position; NaN where it has none.

        ids < 0 are skipped OOVs: no probability, and no n-gram reaches across them.
        with_lengths: also return the length of the n-gram whose probability
        was used at each position (0 where none was; KenLM's ngram_length).
        """
        self._index()
        n = len(ids)
        valid = ids >= 0
        entries = [np.where(valid, ids, -1)]  # order 1: the entry index is the word id
        hashes = [self._unigram_hash[np.where(valid, ids, 0)]]
        for k in range(2, self.order + 1):
            prev = entries[-1]
            entry = np.full(n, -1, dtype=np.int64)
            h = np.zeros(n, dtype=np.uint64)
            # The k-gram ending at i is only looked up if its context, the
            # (k-1)-gram ending at i-1, was found (as KenLM and SRILM do).
            cand = np.flatnonzero((prev[:-1] >= 0) & (depth[1:] >= k - 1) & valid[1:]) + 1
            if len(cand):
                hk = hash_step(hashes[-1][cand - 1], ids[cand])
                entry[cand] = self.tables[k - 1].find(hk, prev[cand - 1], ids[cand])
                h[cand] = hk
            entries.append(entry)
            hashes.append(h)

        # The longest listed n-gram ending at i gives the probability ...
        logp = np.full(n, np.nan)
        longest = np.zeros(n, dtype=np.int64)
        for k in range(1, self.order + 1):
            e = entries[k - 1]
            found = e >= 0
            logp[found] = self.tables[k - 1].logprob[e[found]]
            longest[found] = k
        # ... times the back-off weights of the longer contexts that were found.
        for j in range(1, self.order):
            ctx = np.full(n, -1, dtype=np.int64)
            ctx[1:] = entries[j - 1][:-1]
            use = (ctx >= 0) & (longest <= j) & (longest > 0)
            logp[use] += self.tables[j - 1].bow[ctx[use]]
        return (logp, longest) if with_lengths else logp

    def token_log10probs(self, sentences):
        """Per-token log10 probabilities of token lists (without <s> and </s>).

        Returns one float64 array per sentence with len(sentence) + 1 values:
        p(w_1 | <s>), ..., p(w_n | ...), p(</s> | ...). A word outside a closed
        vocabulary has no probability: NaN (SRILM skips it; so should mixing
        code). In an open vocabulary it is scored as <unk>.
        """
        if not sentences:
            return []
        ids, depth, starts, lengths, _ = self.id_stream(sentences)
        logp = self.score_ids(ids, depth)
        return [logp[s + 1 : s + 2 + n] for s, n in zip(starts.tolist(), lengths.tolist())]

    def evaluate(self, sentences):
        """Perplexity of token lists, as SRILM's ``ngram -ppl`` computes it: a PerplexityReport."""
        return perplexity(self, sentences)

    def score_sentences(self, sentences, line_numbers=None):
        """Per-token scores of token lists, as KenLM's ``full_scores``: (a SentenceScores
        per sentence, the PerplexityReport of them all, whose totals are the exact
        sums of the per-token values)."""
        return score_sentences(self, sentences, line_numbers)

    def evaluate_file(self, path, per_sentence=False):
        """Perplexity of a UTF-8 text file, one sentence per line, cut by the model's tokenizer: a TextPerplexity
        (with the SentenceScores of every line if per_sentence)."""
        return perplexity_of_file(self, path, per_sentence)

    # -- the next word -------------------------------------------------------

    def log10prob(self, context, word):
        """log10 p(word | context); context is a token list, optionally starting with <s>."""
        wid = self.word_index.get(word, self.unk_id if self.open_vocabulary else -1)
        if wid < 0:
            raise RnnkitError(f"{word!r} is not in the model's vocabulary")
        return float(self.next_log10probs(context)[wid])

    def _context_entries(self, context):
        """(entry, hash) of the j-grams that end the context and are listed, j = 1, 2, ..."""
        self._index()
        context = list(context)
        if BOS in context:
            # Nothing reaches back across a sentence start.
            context = context[len(context) - 1 - context[::-1].index(BOS) :]
        ids = self.encode(context)
        ids = ids[len(ids) - (self.order - 1) :] if self.order > 1 else []
        found = []
        for j in range(1, len(ids) + 1):
            gram = ids[len(ids) - j :]
            if min(gram) < 0:
                break
            entry, h = gram[0], self._unigram_hash[gram[0] : gram[0] + 1]
            for k in range(2, j + 1):
                word = np.array(gram[k - 1 : k])
                h = hash_step(h, word)
                entry = int(self.tables[k - 1].find(h, np.array([entry]), word)[0])
                if entry < 0:
                    break
            if entry < 0:
                break
            found.append((entry, h[0]))
        return found

    def next_log10probs(self, context):
        """log10 p(w | context) for every word id w (-inf for <s>, which is never predicted).

        ``context`` is a token list; start it with ``<s>`` for the start of a
        sentence. Only its last order-1 tokens matter.
        """
        vocab_ids = np.arange(len(self.vocab), dtype=np.int64)
        logp = np.asarray(self.tables[0].logprob, dtype=np.float64).copy()
        for j, (entry, h) in enumerate(self._context_entries(context), start=1):
            table = self.tables[j]  # order j + 1
            hk = hash_step(np.full(len(vocab_ids), h, dtype=np.uint64), vocab_ids)
            found = table.find(hk, np.full(len(vocab_ids), entry, dtype=np.int64), vocab_ids)
            # p(w | h) is the listed value, or b(h) p(w | h') when h w is not listed.
            backed_off = logp + self.tables[j - 1].bow[entry]
            if not len(table):  # an order that pruning emptied: everything backs off
                logp = backed_off
                continue
            logp = np.where(found >= 0, table.logprob[np.maximum(found, 0)], backed_off)
        logp[self.bos_id] = -np.inf
        return logp

    def top_k(self, context, k=10):
        """The k most probable next words after context: [(word, probability), ...], best first."""
        logp = self.next_log10probs(context)
        k = max(0, min(int(k), len(logp) - 1))
        if k == 0:
            return []
        best = np.argpartition(-logp, k - 1)[:k]
        best = best[np.lexsort((best, -logp[best]))]
        return [(self.vocab[i], float(10.0 ** logp[i])) for i in best]

    def predict(self, prefix, top=10):
        """The ``top`` most probable next tokens after the text ``prefix``, taken as
        the start of a sentence and cut by the model's tokenizer: a Prediction."""
        if top < 1:
            raise OptionError(f"{{top}} must be at least 1, not {top}", "top")
        tokens = get_tokenizer(self.tokenizer)(prefix)
        context = tokens if tokens[:1] == [BOS] else [BOS] + tokens
        used = context[max(0, len(context) - (self.order - 1)) :] if self.order > 1 else []
        unknown = [w for w in used if w not in self.word_index]
        best = [NextWord(w, p) for w, p in self.top_k(context, top)]
        return Prediction(prefix, self.order, used, unknown, best)

    # -- inspection ----------------------------------------------------------

    def ngram_ids(self, k):
        """Word ids of the order-k entries as a (count, k) array, in the table's order."""
        cols = np.arange(len(self.vocab), dtype=np.int64)[:, None]
        for j in range(2, k + 1):
            t = self.tables[j - 1]
            if (t.prefix < 0).any():
                raise RnnkitError(f"some {j}-grams of this model have no listed prefix")
            cols = np.column_stack([cols[t.prefix], t.word])
        return cols

    def counts(self):
        """Number of listed n-grams per order."""
        return [len(t) for t in self.tables]

    def check_compatible(self, tokenizer=None):
        """Raise RnnkitError if the model was built with a different tokenizer."""
        if tokenizer is not None and tokenizer != self.tokenizer:
            where = f" ({self.source})" if self.source else ""
            raise RnnkitError(
                f"the N-gram model{where} was built with {{tokenizer}} {self.tokenizer}, not {tokenizer}; "
                "both models must cut text the same way",
                "tokenizer",
            )

    # -- writing -------------------------------------------------------------

    def metadata(self):
        """The side-file record: what ARPA cannot hold."""
        return arpa_format.sidecar_record(self.order, self.tokenizer, self.open_vocabulary, self.estimation)

    def write_arpa(self, path, force=False):
        """Write the ARPA file (gzip if it ends in .gz) and its side file, each atomically.

        Refuses to replace an existing file unless force is true.
        """
        arpa_write.write_arpa(self, path, force)

    def write_binary(self, path, force=False):
        """Write the binary form (binary.py: a safetensors file that ``load`` memory-maps), atomically.

        Refuses to replace an existing file unless force is true.
        """
        binary.write_binary(self, path, force)
