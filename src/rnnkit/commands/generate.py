"""`rnnkit generate MODEL_DIR [--prefix TEXT] [--max-tokens N] [--temperature T] [--top-k K] [--top-p P]
[--num-samples N] [--seed S]`.

The text is printed token by token as it is drawn (a long one shows at once).
Without --seed one is drawn and printed on standard error, so that the text
can be made again. --num-samples N: N texts, the k-th with seed S + k - 1
(each one can be made again alone), separated by a blank line.
"""

import sys

from rnnkit.commands import model_options
from rnnkit.lm.api import LanguageModel
from rnnkit.lm.generate import TextStream, check_sampling

NAME = "generate"
HELP = "sample text from a trained model (same seed, same text)"


def add_arguments(p):
    p.add_argument("model", metavar="MODEL_DIR")
    p.add_argument("--prefix", default="", metavar="TEXT", help="text to continue (default: start a sentence)")
    p.add_argument("--max-tokens", type=int, default=50, metavar="N", help="tokens to sample (default: 50)")
    p.add_argument("--temperature", type=float, default=1.0, metavar="T",
                   help="below 1: safer, above 1: wilder, 0: always the most likely token (default: 1)")
    p.add_argument("--top-k", type=int, default=None, metavar="K", help="sample among the K most likely tokens only")
    p.add_argument("--top-p", type=float, default=None, metavar="P",
                   help="nucleus sampling: among the fewest most likely tokens whose probabilities add up to P")
    p.add_argument("--num-samples", type=int, default=1, metavar="N",
                   help="N texts, the k-th with seed S + k - 1, separated by a blank line (default: 1)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed (default: a fresh one each run, printed on standard error)")
    model_options.add_arguments(p)


def _write(piece):
    sys.stdout.write(piece)
    sys.stdout.flush()


def run(args):
    check_sampling(args.max_tokens, args.temperature, args.top_k, args.top_p, args.num_samples)  # before the model
    lm = LanguageModel.load(args.model, args.verify)
    seed, note = args.seed, None
    if seed is None:
        import secrets

        seed = secrets.randbits(31)
        seeds = f"{seed}" if args.num_samples == 1 else f"{seed} to {seed + args.num_samples - 1}"
        note = f"rnnkit generate: seed {seeds} (--seed {seed} gives the same text again)"
    for k in range(args.num_samples):
        if k:
            _write("\n")
        stream = TextStream(lm.tokenizer, _write)

        def on_token(token):
            nonlocal note
            if note:  # once the prefix was read: an unusable one is the only line on stderr
                print(note, file=sys.stderr, flush=True)
                note = None
            stream(token)

        lm.generate(args.prefix, args.max_tokens, args.temperature, args.top_k, seed + k, args.top_p, on_token)
        _write("\n")
    return 0
