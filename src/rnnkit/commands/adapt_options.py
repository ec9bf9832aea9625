"""The options of `rnnkit eval` and `rnnkit score` that let the model adapt to the text it
scores (rnnkit.lm.adapt): --dynamic, --cache and --tune."""

from rnnkit.errors import UsageError
from rnnkit.lm.adapt import FORMS, DynamicEval, NeuralCache

DEFAULTS_D, DEFAULTS_C = DynamicEval(), NeuralCache()


def add_arguments(p, tune=True):
    g = p.add_argument_group("adapting to the text (dynamic evaluation, neural cache; the model on disk is never changed)")
    g.add_argument("--dynamic", action="store_true",
                   help="dynamic evaluation: after scoring each segment, one gradient step on it "
                        "(Mikolov's rnnlm -dynamic; Krause et al. 2018)")
    g.add_argument("--dynamic-lr", type=float, metavar="R", help=f"its step size (default: {DEFAULTS_D.lr:g})")
    g.add_argument("--dynamic-decay", type=float, metavar="D",
                   help="its decay towards the trained weights per segment (default: 0)")
    g.add_argument("--dynamic-form", choices=FORMS, default=None,
                   help="rms: Krause et al.'s RMS-normalised step (default); sgd: plain SGD")
    g.add_argument("--dynamic-bptt", type=int, metavar="T",
                   help=f"segment length in tokens: one step per segment (default: {DEFAULTS_D.bptt})")
    g.add_argument("--cache", type=int, metavar="N",
                   help="neural cache over the last N hidden states (Grave et al. 2017)")
    g.add_argument("--cache-theta", type=float, metavar="T", help=f"its sharpness θ (default: {DEFAULTS_C.theta:g})")
    g.add_argument("--cache-lambda", type=float, metavar="L",
                   help=f"its weight: P = (1 - L) P_model + L P_cache (default: {DEFAULTS_C.lam:g})")
    if tune:
        g.add_argument("--tune", metavar="VALID_TEXT",
                       help="choose R, D, T and L (and --lambda with --mix) on this validation text "
                            "before scoring FILE; what --dynamic-*/--cache-* give is where the search starts, "
                            "and the cache's N is the largest it tries")


def settings(args):
    """(DynamicEval or None, NeuralCache or None) from the parsed flags (OptionError for a bad value)."""
    dyn_flags = ("dynamic_lr", "dynamic_decay", "dynamic_form", "dynamic_bptt")
    if not args.dynamic and any(getattr(args, f) is not None for f in dyn_flags):
        raise UsageError("--dynamic-lr, --dynamic-decay, --dynamic-form and --dynamic-bptt need --dynamic")
    if args.cache is None and (args.cache_theta is not None or args.cache_lambda is not None):
        raise UsageError("--cache-theta and --cache-lambda need --cache N")
    if getattr(args, "tune", None) and not (args.dynamic or args.cache is not None):
        raise UsageError("--tune chooses the settings of --dynamic and --cache: give one of them as well")
    dynamic = cache = None
    if args.dynamic:
        dynamic = DynamicEval(lr=_or(args.dynamic_lr, DEFAULTS_D.lr), decay=_or(args.dynamic_decay, 0.0),
                              form=_or(args.dynamic_form, DEFAULTS_D.form), bptt=_or(args.dynamic_bptt, DEFAULTS_D.bptt))
    if args.cache is not None:
        cache = NeuralCache(size=args.cache, theta=_or(args.cache_theta, DEFAULTS_C.theta),
                            lam=_or(args.cache_lambda, DEFAULTS_C.lam))
    return dynamic, cache


def _or(value, default):
    return default if value is None else value


def adapting(args):
    return bool(args.dynamic or args.cache is not None)


def lines(r):
    """What eval's text output adds for an adapting model: the settings, the speed, the tuning."""
    if r.tuned_on and getattr(r, "valid_perplexity", None) is not None:
        yield f"  settings tuned on {r.tuned_on}: validation perplexity {r.valid_perplexity:.2f}"
    yield f"  adapting: {describe(r.dynamic, r.cache)}"
    if getattr(r, "tokens_per_second", None):
        yield f"  {r.tokens_per_second:,.0f} tokens/s ({r.seconds:.1f} s)"


def describe(dynamic, cache):
    """One line: the settings used (dicts, as results hold them)."""
    parts = []
    if dynamic:
        parts.append(f"dynamic evaluation ({dynamic['form']}, lr {dynamic['lr']:g}, decay {dynamic['decay']:g}, "
                     f"segments of {dynamic['bptt']})")
    if cache:
        parts.append(f"neural cache (N {cache['size']}, theta {cache['theta']:g}, lambda {cache['lam']:g})")
    return " + ".join(parts) or "none"
