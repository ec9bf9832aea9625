"""What the second direction adds: `rnnkit fill` beside `rnnkit predict` on the same blanks.

    python benchmarks/cloze_zh.py --lm ZH_LM_DIR --cloze ZH_CLOZE_DIR [--top 5] [--json] [SENTENCE ...]

For each sentence with a blank (``__`` or ``__N__``): the cloze model's best
fillings, read from both sides (what `rnnkit fill` prints), and the
left-to-right model's best next tokens after the text left of the blank alone
(what `rnnkit predict` prints for that prefix). For a blank of N tokens the
left-to-right column is its greedy continuation of N tokens, the most likely
token at each step. Prints a Markdown table (or, with --json, one object).
"""

import argparse
import json

import numpy

from rnnkit.lm.api import LanguageModel
from rnnkit.lm.cloze import BLANK, ClozeLM, join_tokens
from rnnkit.lm.data import encode_sentence
from rnnkit.lm.predict import next_log_probs

SENTENCES = [
    # the article's sentence: 买; then the same blank two characters long
    "我的手机坏了，我打算__一部新手机。",
    "我的手机坏了，我打算__2__新手机。",
    # the answer is decided by what follows the blank
    "这个__序有很多错误，需要修改。",        # 程 (程序)
    "__由软件基金会",                        # 自 (自由软件)
    "__2__软件基金会",                       # 自由
    "在命__行中输入下面的命令。",            # 令 (命令行)
    "人在福中不知__，船在水中不知流。",      # 福 (a test-set proverb: the two halves mirror each other)
    "天下__2__一般黑，世上财主一样狠。",     # 乌鸦 (a test-set proverb)
    "今天下__了，出门记得带伞。",            # 雨
    "请不要在图书__里大声说话。",            # 馆
    # the left side already decides: a control
    "己所不欲，勿施于__。",                  # 人
]


def left_to_right(lm, prefix, k, steps):
    """The ``k`` most likely next tokens after ``prefix`` (steps == 1), or the greedy ``steps``-token continuation."""
    _, ids = encode_sentence(prefix, lm.tokenizer, lm.vocab)
    logp = next_log_probs(lm.model, lm.vocab, ids)
    order = numpy.argsort(-logp, kind="stable")[:k]
    if steps == 1:
        return [(lm.vocab.tokens[i], float(numpy.exp(logp[i]))) for i in order]
    out, p, cur = [], 1.0, ids
    for _ in range(steps):
        i = int(numpy.argmax(logp))
        out.append(lm.vocab.tokens[i])
        p *= float(numpy.exp(logp[i]))
        cur = numpy.append(cur, i).astype(numpy.int32)
        logp = next_log_probs(lm.model, lm.vocab, cur)
    return [(join_tokens(out, lm.tokenizer), p)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm", required=True)
    ap.add_argument("--cloze", required=True)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("sentences", nargs="*")
    args = ap.parse_args()
    lm, cz = LanguageModel.load(args.lm), ClozeLM.load(args.cloze)
    rows = []
    for text in args.sentences or SENTENCES:
        m = BLANK.search(text)
        steps = int(m.group(1)) if m.group(1) else 1
        r = cz.fill(text, args.top)
        rows.append({
            "text": text,
            "cloze": [(join_tokens(t, cz.tokenizer), p) for t, p in r["predictions"]],
            "left_to_right": left_to_right(lm, text[: m.start()], args.top, steps),
        })
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    print("| sentence | `rnnkit fill` (both sides) | `rnnkit predict` (left side only) |")
    print("|---|---|---|")
    for row in rows:
        fmt = lambda pairs: ", ".join(f"{t} {p:.2f}" for t, p in pairs)  # noqa: E731
        print(f"| {row['text']} | {fmt(row['cloze'])} | {fmt(row['left_to_right'])} |")


if __name__ == "__main__":
    main()
