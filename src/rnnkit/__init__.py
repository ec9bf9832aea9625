"""rnnkit: recurrent networks and RNN language models written from scratch on NumPy.

The engine lives in :mod:`rnnkit.nn`; the language-model tools in :mod:`rnnkit.lm`.
"""

__version__ = "0.1.0"


def __getattr__(name):
    # The language-model API pulls in safetensors and tqdm; load it only when asked,
    # so that `import rnnkit.nn` stays NumPy-only.
    if name == "LanguageModel":
        from rnnkit.lm.api import LanguageModel

        return LanguageModel
    if name == "load":
        from rnnkit.lm.api import load

        return load
    if name == "ClozeLM":
        from rnnkit.lm.cloze import ClozeLM

        return ClozeLM
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
