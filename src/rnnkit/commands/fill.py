"""`rnnkit fill MODEL_DIR "TEXT WITH __ BLANK" [--top K] [--json]`: the article's bidirectional example.

    rnnkit fill zh-cloze "我的手机坏了，我打算__一部新手机。"
    rnnkit fill ptb-cloze "the company said it expects to __ a loss"
    rnnkit fill zh-cloze "我的手机坏了，我打算__2__新手机。"      # a blank of two tokens

``__`` (any run of two or more underscores, so the article's ``____`` too) is
a blank of one token; ``__N__`` is a blank of N tokens; several blanks are
filled jointly. One blank token gets the model's exact probabilities; several
are scored by pseudo-likelihood (see rnnkit.lm.cloze).
"""

import json

from rnnkit.commands import model_options
from rnnkit.lm.cloze import MAX_BLANK_TOKENS, ClozeLM, join_tokens
from rnnkit.lm.predict import check_top

NAME = "fill"
HELP = "fill the blank in a sentence with a cloze (bidirectional) model: the most likely tokens"


def add_arguments(p):
    p.add_argument("model", metavar="MODEL_DIR", help="a model trained with rnnkit train --task cloze")
    p.add_argument("text", metavar="TEXT",
                   help='the sentence with its blank: __ is one token, __N__ is N tokens '
                        f'(at most {MAX_BLANK_TOKENS}), e.g. "我的手机坏了，我打算__一部新手机。"')
    p.add_argument("--top", type=int, default=10, metavar="K", help="how many fillings (default: 10)")
    p.add_argument("--beam", type=int, metavar="N",
                   help="beam width when the blank has several tokens (default: max(K, 10))")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    model_options.add_arguments(p)


def run(args):
    check_top(args.top)  # before the model is read
    if args.beam is not None:
        check_top(args.beam, "beam")
    lm = ClozeLM.load(args.model, args.verify)
    r = lm.fill(args.text, args.top, args.beam)
    if args.json:
        print(json.dumps(r.to_json(), ensure_ascii=False))
        return 0
    print(join_tokens(r.shown, lm.tokenizer))
    if r.unknown:
        print(f"(unknown to the model, read as <unk>: {' '.join(r.unknown)})")
    if r.scoring != "exact":
        print(f"({r.blank_tokens} blank tokens, scored by pseudo-likelihood: the product of each blank "
              "token's probability given all the other tokens; not normalised over fillings)")
    for rank, f in enumerate(r.predictions, 1):
        print(f"{rank:3d}  {f.probability:8.4f}  {f.text}")
    return 0
