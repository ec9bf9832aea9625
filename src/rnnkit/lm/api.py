"""``rnnkit.LanguageModel``: the command-line tools' powers in one object, for notebooks.

    from rnnkit import LanguageModel

    lm = LanguageModel.train("train.txt", valid="valid.txt", out="my-model", hidden=200, epochs=5)
    lm = LanguageModel.load("my-model")
    lm.perplexity(["the cat sat on the mat"])
    lm.predict("我昨天上学迟到了，老师批评了", top=5)      # [(token, probability), ...]
    lm.generate(prefix="the", max_tokens=30, seed=1)
    lm.score(["a sentence", "another one"])             # log10 probability and PPL per line
    lm.save("copy-of-model")
"""

from rnnkit.errors import RnnkitError
from rnnkit.lm import io
from rnnkit.lm.data import encode_file, encode_lines
from rnnkit.lm.evaluate import evaluate, stream_nll, summary
from rnnkit.lm.generate import generate
from rnnkit.lm.model import RNNLM
from rnnkit.lm.predict import predict
from rnnkit.lm.score import rescore_nbest, score_lines, sentence_log_probs


class LanguageModel:
    """A trained RNN language model with its dictionary and tokenizer.

    ``model`` (rnnkit.lm.model.RNNLM), ``vocab`` (rnnkit.lm.vocab.Vocab),
    ``tokenizer`` (word, char or jieba) and ``config`` (config.json's content).
    """

    def __init__(self, model, vocab, tokenizer, config=None):
        self.model, self.vocab, self.tokenizer = model, vocab, tokenizer
        self.config = config or {"task": "lm", "tokenizer": tokenizer, "model": model.config()}
        self.model.eval()

    # --- files -------------------------------------------------------------------

    @classmethod
    def load(cls, model_dir):
        """Read MODEL_DIR, checking every file; RnnkitError with one clear line if anything is off."""
        config, vocab, tokenizer, model = io.load_trained(
            model_dir, "lm", RNNLM.from_config, "a model",
            "{model_dir}: a {task!r} model, not a left-to-right language model",
        )
        return cls(model, vocab, tokenizer, config)

    def save(self, model_dir, force=False):
        """Write MODEL_DIR (config.json, vocab.json, weights.safetensors); refuses a non-empty one unless force."""
        io.check_model_dir_free(model_dir, force)
        config = {k: v for k, v in self.config.items() if k not in ("format", "format_version", "files")}
        io.save_model(model_dir, config, self.vocab.to_json(), {**self.model.params, **self.model.buffers()})

    @classmethod
    def train(cls, corpus, valid, out, resume=False, force=False, max_minutes=None, quiet=True, log=print, **options):
        """Train like `rnnkit train` (same options, as keywords) and return the best model.

        With ``task="cloze"`` the result is a rnnkit.lm.cloze.ClozeLM (fill and
        evaluate), since a cloze model is no left-to-right language model.
        """
        from rnnkit.lm.train import train

        train(corpus, valid, out, options, resume=resume, force=force, max_minutes=max_minutes, quiet=quiet, log=log)
        if options.get("task") == "cloze":
            from rnnkit.lm.cloze import ClozeLM

            return ClozeLM.load(out)
        return cls.load(out)

    # --- what the commands do ------------------------------------------------

    def evaluate(self, path):
        """`rnnkit eval`: perplexity, nats and bits per token, tokens, OOV rate of a text file."""
        return evaluate(self.model, encode_file(path, self.tokenizer, self.vocab), self.vocab.eos_id)

    def perplexity(self, text):
        """Perplexity of a text: a string (lines split at line breaks) or a list of lines."""
        lines = text.splitlines() if isinstance(text, str) else list(text)
        enc = encode_lines(lines, self.tokenizer, self.vocab)
        if enc.tokens == 0:
            raise RnnkitError("no text to measure")
        nll, n = stream_nll(self.model, enc.ids, self.vocab.eos_id)
        return summary(nll, n)["perplexity"]

    def predict(self, prefix, top=10):
        """The ``top`` most likely next tokens after ``prefix``: [(token, probability)]."""
        return predict(self.model, self.vocab, self.tokenizer, prefix, top)["predictions"]

    def generate(self, prefix="", max_tokens=50, temperature=1.0, top_k=None, seed=None):
        """Sampled text (the prefix included); same seed, same text."""
        return generate(self.model, self.vocab, self.tokenizer, prefix, max_tokens, temperature, top_k, seed)

    def score(self, lines):
        """Per line: {"text", "tokens", "oov", "logprob" (log10), "ppl"}, each line from the start state."""
        if isinstance(lines, str):
            lines = lines.splitlines()
        return score_lines(self.model, self.vocab, self.tokenizer, list(lines))

    def rescore_nbest(self, lines, lm_weight=1.0, am_weight=1.0, source="<n-best>"):
        """Re-rank n-best lines ('utt_id<TAB>text[<TAB>score]'); see rnnkit.lm.score."""
        return rescore_nbest(self.model, self.vocab, self.tokenizer, list(lines), source, lm_weight, am_weight)

    def token_logprobs(self, token_lists):
        """Natural-log probabilities per token of each sentence (token lists), the
        final <eos> last: one array of len + 1 per sentence (for mixing with an N-gram)."""
        import numpy

        ids = [numpy.array(self.vocab.encode(t), dtype=numpy.int32) for t in token_lists]
        return sentence_log_probs(self.model, self.vocab, ids)

    def __repr__(self):
        m = self.model.config()
        return (f"LanguageModel({m['cell']} {m['layers']}x{m['hidden']}, vocabulary {len(self.vocab)}, "
                f"tokenizer {self.tokenizer})")
