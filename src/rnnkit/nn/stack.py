"""Deep recurrent networks (docs/article.md §4): a stack of N layers, each uni- or bidirectional.

    s_t^(i)  = f(U^(i) s_t^(i-1) + W^(i) s_{t-1}^(i))      layer i reads layer i-1
    s'_t^(i) = f(U'^(i) s'_t^(i-1) + W'^(i) s'_{t+1}^(i))

Two deep bidirectional forms:

- ``form="concat"`` (the default): each direction of layer i reads both
  directions of layer i-1, [s^(i-1); s'^(i-1)]. This is what PyTorch's nn.RNN
  (bidirectional=True, num_layers > 1) and most toolkits do, so weights move
  between them (nn.from_torch), and it lets upper layers mix past and future
  context, which is the point of stacking bidirectional layers.
- ``form="article"``: each direction reads only the same direction below, as
  the article's equations are written. Fewer weights; the two directions meet
  only in the output layer.

For unidirectional stacks the two forms are the same network.
"""

import importlib

from rnnkit.backend import rng as make_rng
from rnnkit.nn.bidirectional import Bidirectional
from rnnkit.nn.dropout import Dropout
from rnnkit.nn.module import Module

FORMS = ("concat", "article")
# The one registry of cells, by name: the module and class of each (imported
# when first asked for, so that the Elman network loads without the gated cells).
CELLS = {"rnn": ("rnnkit.nn.recurrent", "Recurrent"), "lstm": ("rnnkit.nn.lstm", "LSTM"),
         "gru": ("rnnkit.nn.gru", "GRU")}


def get_cell(name):
    """The layer class for a cell name: rnn (Elman), lstm, gru."""
    if name not in CELLS:
        raise ValueError(f"unknown cell {name!r}; expected one of {', '.join(CELLS)}")
    module, cls = CELLS[name]
    return getattr(importlib.import_module(module), cls)


class RecurrentStack(Module):
    """N recurrent layers; dropout (if any) on the connections between them.

    forward(x, state0=None) -> outputs     x: (T, B, input) or token ids (T, B)
                                           outputs: (T, B, H), or (T, B, 2H) bidirectional
    backward(doutputs) -> (dx, dstate0)
    state0, final_state, dstate0: a list with one entry per layer (that layer's
    state: an array, an (h, c) pair, or a (fw, bw) pair of those).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, cell="rnn", bidirectional=False,
                 form="concat", dropout=0.0, seed=None, dtype=None, **cell_kwargs):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if form not in FORMS:
            raise ValueError(f"unknown deep form {form!r}; expected one of {', '.join(FORMS)}")
        cell_cls = get_cell(cell)
        rng = make_rng(seed)
        self.bidirectional = bidirectional
        self.output_size = hidden_size * (2 if bidirectional else 1)
        self.layers, self.dropouts = [], []
        for i in range(num_layers):
            size_in = input_size if i == 0 else self.output_size
            if bidirectional:
                layer = Bidirectional(cell_cls, size_in, hidden_size, split_input=(form == "article" and i > 0),
                                      seed=rng, dtype=dtype, **cell_kwargs)
            else:
                layer = cell_cls(size_in, hidden_size, seed=rng, dtype=dtype, **cell_kwargs)
            self.layers.append(self.add_child(f"layers.{i}", layer))
            if i > 0:
                self.dropouts.append(self.add_child(f"dropouts.{i}", Dropout(dropout, seed=rng)))
        self.final_state = None

    def forward(self, x, state0=None):
        if state0 is None:
            state0 = [None] * len(self.layers)
        elif len(state0) != len(self.layers):
            raise ValueError(f"state0: expected one state per layer ({len(self.layers)}), got {len(state0)}")
        h = x
        for i, layer in enumerate(self.layers):
            if i > 0:
                h = self.dropouts[i - 1].forward(h)
            h = layer.forward(h, state0[i])
        self.final_state = [layer.final_state for layer in self.layers]
        return h

    def backward(self, doutputs):
        dstate0 = [None] * len(self.layers)
        dh = doutputs
        for i in range(len(self.layers) - 1, -1, -1):
            # 式4: the error term goes down to layer i-1 through U^(i).
            dh, dstate0[i] = self.layers[i].backward(dh)
            if i > 0:
                dh = self.dropouts[i - 1].backward(dh)
        return dh, dstate0
