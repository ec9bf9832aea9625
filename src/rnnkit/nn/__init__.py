"""The engine: recurrent layers with hand-written back-propagation through time.

Every layer follows one contract (see module.py): ``params`` / ``grads`` dicts,
``forward`` keeping what ``backward`` needs, ``backward`` returning input
gradients and accumulating parameter gradients.
"""

from rnnkit.nn.activations import ACTIVATIONS, get_activation
from rnnkit.nn.bidirectional import Bidirectional
from rnnkit.nn.dropout import Dropout
from rnnkit.nn.embedding import Embedding
from rnnkit.nn.init import INITS, init_weights
from rnnkit.nn.linear import Linear
from rnnkit.nn.module import Module, tree_leaves, tree_map
from rnnkit.nn.recurrent import Recurrent
from rnnkit.nn.softmax import SoftmaxCrossEntropy, log_softmax, softmax
from rnnkit.nn.stack import FORMS, RecurrentStack, get_cell
from rnnkit.nn import optim

__all__ = [
    "ACTIVATIONS", "Bidirectional", "Dropout", "Embedding", "FORMS", "INITS", "Linear", "Module",
    "Recurrent", "RecurrentStack", "SoftmaxCrossEntropy", "get_activation", "get_cell", "init_weights",
    "log_softmax", "optim", "softmax", "tree_leaves", "tree_map",
]


def __getattr__(name):
    # Gated cells and the PyTorch bridge load on first use: the bridge needs torch
    # only when it is called.
    if name == "LSTM":
        from rnnkit.nn.lstm import LSTM

        return LSTM
    if name == "GRU":
        from rnnkit.nn.gru import GRU

        return GRU
    if name in ("from_torch", "to_torch_state_dict"):
        from rnnkit.nn import torch_bridge

        return getattr(torch_bridge, name)
    raise AttributeError(f"module 'rnnkit.nn' has no attribute {name!r}")
