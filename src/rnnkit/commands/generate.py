"""`rnnkit generate MODEL_DIR [--prefix TEXT] [--max-tokens N] [--temperature T] [--top-k K] [--seed S]`."""

from rnnkit.lm.api import LanguageModel
from rnnkit.lm.generate import check_sampling

NAME = "generate"
HELP = "sample text from a trained model (same seed, same text)"


def add_arguments(p):
    p.add_argument("model", metavar="MODEL_DIR")
    p.add_argument("--prefix", default="", metavar="TEXT", help="text to continue (default: start a sentence)")
    p.add_argument("--max-tokens", type=int, default=50, metavar="N", help="tokens to sample (default: 50)")
    p.add_argument("--temperature", type=float, default=1.0, metavar="T",
                   help="below 1: safer, above 1: wilder, 0: always the most likely token (default: 1)")
    p.add_argument("--top-k", type=int, default=None, metavar="K", help="sample among the K most likely tokens only")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one each run)")


def run(args):
    check_sampling(args.max_tokens, args.temperature, args.top_k)  # before the model is read
    lm = LanguageModel.load(args.model)
    print(lm.generate(args.prefix, args.max_tokens, args.temperature, args.top_k, args.seed).text)
    return 0
