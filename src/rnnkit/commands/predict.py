"""`rnnkit predict MODEL_DIR "PREFIX" [--top K] [--json]`: the article's game."""

import json

from rnnkit.commands import model_options
from rnnkit.commands.prediction_text import print_predictions
from rnnkit.lm.api import LanguageModel
from rnnkit.lm.predict import check_top

NAME = "predict"
HELP = "the most likely next tokens after a prefix, with their probabilities"


def add_arguments(p):
    p.add_argument("model", metavar="MODEL_DIR")
    p.add_argument("prefix", metavar="PREFIX", help='e.g. "我昨天上学迟到了，老师批评了"; "" asks for a first token')
    p.add_argument("--top", type=int, default=10, metavar="K", help="how many tokens (default: 10)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    model_options.add_arguments(p)


def run(args):
    check_top(args.top)  # before the model is read
    lm = LanguageModel.load(args.model, args.verify)
    r = lm.predict(args.prefix, args.top)
    if args.json:
        print(json.dumps(r.to_json(), ensure_ascii=False))
        return 0
    shown = " ".join(r.tokens) if lm.tokenizer != "char" else "".join(r.tokens)
    print_predictions(shown, r.predictions, r.unknown)
    return 0
