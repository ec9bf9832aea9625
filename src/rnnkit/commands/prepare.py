"""`rnnkit prepare CORPUS... --out DATA_DIR`: tokenise once into memory-mappable id shards for rnnkit train."""

import math
import time

from rnnkit.lm.tokenize import TOKENIZERS
from rnnkit.scale.prepare import CHUNK_BYTES, prepare

NAME = "prepare"
HELP = "tokenise corpora once into a DATA_DIR that rnnkit train reads memory-mapped (corpora larger than memory)"


def add_arguments(p):
    p.add_argument("corpora", nargs="+", metavar="CORPUS", help="text files, UTF-8, one sentence per line, in order")
    p.add_argument("--out", required=True, metavar="DATA_DIR", help="directory for vocab.json, the id shards and "
                   "manifest.json")
    p.add_argument("--tokenizer", choices=tuple(TOKENIZERS), default="word", help="how lines are cut (default: word)")
    p.add_argument("--vocab", metavar="FILE", help="a fixed dictionary: a word list (one token per line), or a "
                   "DATA_DIR / model directory whose vocab.json is used exactly (to prepare validation text)")
    p.add_argument("--min-count", type=int, default=1, metavar="N", help="leave out tokens seen fewer than N times")
    p.add_argument("--max-vocab", type=int, metavar="N", help="keep at most N tokens, <unk> and <eos> included")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="tokenising processes (default: 1)")
    p.add_argument("--chunk-mb", type=float, default=CHUNK_BYTES / (1 << 20), metavar="MB",
                   help="text per chunk and shard (default: %(default)g); each worker holds about 10x this")
    p.add_argument("--force", action="store_true", help="prepare into a DATA_DIR that is not empty")


def run(args):
    from rnnkit.errors import UsageError

    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.min_count < 1:
        raise UsageError(f"--min-count must be at least 1, got {args.min_count}")
    if args.max_vocab is not None and args.max_vocab < 3:
        raise UsageError(f"--max-vocab must be at least 3, got {args.max_vocab}")
    if not (math.isfinite(args.chunk_mb) and args.chunk_mb > 0):
        raise UsageError(f"--chunk-mb must be a positive number, got {args.chunk_mb}")
    t0 = time.monotonic()
    m = prepare(args.corpora, args.out, tokenizer=args.tokenizer, vocab=args.vocab, min_count=args.min_count,
                max_vocab=args.max_vocab, workers=args.workers, chunk_bytes=max(1, int(args.chunk_mb * (1 << 20))),
                force=args.force, log=print)
    seconds = time.monotonic() - t0
    print(f"{m['tokens']:,} tokens in {seconds:.1f} s ({m['tokens'] / max(seconds, 1e-9):,.0f} tokens/s)")
    return 0
