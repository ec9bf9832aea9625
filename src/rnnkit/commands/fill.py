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

from rnnkit.errors import UsageError
from rnnkit.lm.cloze import MAX_BLANK_TOKENS, ClozeLM, join_tokens

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


def _marked(tokens):
    """The tokens with each blank shown as ____ (one token) or __N__ (N tokens in a row)."""
    out, run = [], 0
    for t in tokens + [None]:
        if t == "__":
            run += 1
            continue
        if run:
            out.append("____" if run == 1 else f"__{run}__")
            run = 0
        if t is not None:
            out.append(t)
    return out


def run(args):
    if args.top < 1:
        raise UsageError(f"--top must be a positive integer, got {args.top}")
    if args.beam is not None and args.beam < 1:
        raise UsageError(f"--beam must be a positive integer, got {args.beam}")
    lm = ClozeLM.load(args.model)
    r = lm.fill(args.text, args.top, args.beam)
    tok = lm.tokenizer
    key = "probability" if r["scoring"] == "exact" else "pseudo_likelihood"
    if args.json:
        print(json.dumps({
            "text": args.text, "tokens": r["tokens"], "blank_tokens": len(r["positions"]), "unknown": r["unknown"],
            "scoring": r["scoring"],
            # one blank token: the exact probability; several: the pseudo-likelihood, which is not normalised
            "predictions": [{"tokens": t, "text": join_tokens(t, tok), key: p} for t, p in r["predictions"]],
        }, ensure_ascii=False))
        return 0
    shown = join_tokens(_marked(r["tokens"]), tok)
    print(shown)
    if r["unknown"]:
        print(f"(unknown to the model, read as <unk>: {' '.join(r['unknown'])})")
    if r["scoring"] != "exact":
        print(f"({len(r['positions'])} blank tokens, scored by pseudo-likelihood: the product of each blank "
              "token's probability given all the other tokens; not normalised over fillings)")
    for rank, (tokens, p) in enumerate(r["predictions"], 1):
        print(f"{rank:3d}  {p:8.4f}  {join_tokens(tokens, tok)}")
    return 0
