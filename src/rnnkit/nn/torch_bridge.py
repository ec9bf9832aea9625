"""Moving trained weights between PyTorch's nn.RNN / nn.LSTM / nn.GRU and rnnkit.

    stack = from_torch(torch_module)         a RecurrentStack with the same weights
    sd = to_torch_state_dict(stack)          a state dict that torch_module.load_state_dict takes
    module = to_torch(stack)                 a new torch module holding the stack's weights

PyTorch is not a dependency of rnnkit: it is imported inside these functions
only, and a missing torch is a clear ImportError.

Parameter mapping, per layer l and direction (PyTorch suffix "_reverse" is
rnnkit's "bw" layer of a Bidirectional, the forward one "fw"):

    weight_ih_l{l}  ->  U           (G*H x input; G = 1 rnn, 4 lstm, 3 gru)
    weight_hh_l{l}  ->  W           (G*H x H)
    rnn, lstm:  bias_ih + bias_hh   ->  b        the two biases only ever appear summed
    gru:        bias_ih + [bias_hh_r, bias_hh_z, 0] -> b,   bias_hh_n -> b_hn
                (the reset gate multiplies W_hn h + b_hn, so b_hn stays separate)

Going back, the summed biases are written to bias_ih and bias_hh is zero (and
for the GRU bias_hh = [0, 0, b_hn]): a different split of the same sums, so
the torch module computes exactly the same function. Gate orders are
PyTorch's (LSTM i, f, g, o; GRU r, z, n), so weight blocks are plain copies.

Layout: rnnkit is time-major, (T, B, features). A module built with
``batch_first=True`` has the same weights; only its inputs and outputs are
(B, T, features), so transpose them (``x.transpose(1, 0, 2)``) when feeding
the rnnkit stack. Initial states: torch's h0 (num_layers * directions, B, H)
is rnnkit's list of per-layer states, [h0[l]] or [(h0[2l], h0[2l+1])] for a
bidirectional stack, and an LSTM's entry is an (h, c) pair.

Deep bidirectional modules map to ``form="concat"`` (each direction reads
both directions below), which is what PyTorch computes; ``form="article"``
stacks have no PyTorch equivalent. The inter-layer dropout probability is
copied; proj_size (LSTM projections) is not supported.
"""

from rnnkit.backend import xp

def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("rnnkit.nn.from_torch / to_torch_state_dict need PyTorch: pip install torch") from e
    return torch


def _directions(bidirectional):
    return [("", "fw"), ("_reverse", "bw")] if bidirectional else [("", None)]


def _layer_cells(stack):
    """[(torch suffix, rnnkit cell layer)] for every layer of the stack, in torch's order."""
    from rnnkit.nn.bidirectional import Bidirectional

    out = []
    for layer in stack.layers:
        if isinstance(layer, Bidirectional):
            if layer.split_input:
                raise ValueError("a form='article' bidirectional stack has no PyTorch equivalent "
                                 "(PyTorch's deep bidirectional layers read both directions below: form='concat')")
            out.append([("", layer.fw), ("_reverse", layer.bw)])
        else:
            out.append([("", layer)])
    return out


def _cell_kind(cell):
    from rnnkit.nn.gru import GRU
    from rnnkit.nn.lstm import LSTM
    from rnnkit.nn.recurrent import Recurrent

    if isinstance(cell, LSTM):
        return "lstm"
    if isinstance(cell, GRU):
        return "gru"
    if isinstance(cell, Recurrent):
        if cell.f.name not in ("tanh", "relu"):
            raise ValueError(f"PyTorch's nn.RNN supports tanh and relu only, not {cell.f.name!r}")
        return "rnn"
    raise ValueError(f"cannot map a {type(cell).__name__} layer to PyTorch")


def from_torch(module, dtype=None):
    """A RecurrentStack with the cell, sizes and weights of a torch nn.RNN, nn.LSTM or nn.GRU.

    ``dtype``: the rnnkit dtype; by default float64 if the module is float64,
    else float32 (rnnkit's training type). ``batch_first`` does not change the
    weights; rnnkit's inputs are time-major (see the module docstring).
    """
    torch = _torch()
    from rnnkit.nn.stack import RecurrentStack

    for cls, kind in ((torch.nn.LSTM, "lstm"), (torch.nn.GRU, "gru"), (torch.nn.RNN, "rnn")):
        if isinstance(module, cls):
            break
    else:
        raise TypeError(f"from_torch expects a torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    if getattr(module, "proj_size", 0):
        raise ValueError("LSTMs with proj_size > 0 are not supported")
    if dtype is None:
        dtype = xp.float64 if module.weight_ih_l0.dtype == torch.float64 else xp.float32
    kwargs = {"activation": module.nonlinearity} if kind == "rnn" else {}
    stack = RecurrentStack(module.input_size, module.hidden_size, module.num_layers, cell=kind,
                           bidirectional=module.bidirectional, form="concat", dropout=float(module.dropout),
                           dtype=dtype, **kwargs)
    H = module.hidden_size

    def get(name):
        return getattr(module, name).detach().cpu().to(torch.float64).numpy()

    for l, cells in enumerate(_layer_cells(stack)):
        for suffix, cell in cells:
            p = cell.params
            p["U"][...] = get(f"weight_ih_l{l}{suffix}")
            p["W"][...] = get(f"weight_hh_l{l}{suffix}")
            if not module.bias:
                p["b"][...] = 0
                if kind == "gru":
                    p["b_hn"][...] = 0
                continue
            b_ih, b_hh = get(f"bias_ih_l{l}{suffix}"), get(f"bias_hh_l{l}{suffix}")
            if kind == "gru":
                p["b"][...] = b_ih + xp.concatenate([b_hh[:2 * H], xp.zeros(H)])
                p["b_hn"][...] = b_hh[2 * H:]
            else:
                p["b"][...] = b_ih + b_hh
    return stack


def to_torch_state_dict(stack):
    """The stack's weights as a PyTorch state dict (names weight_ih_l0, bias_hh_l1_reverse, …).

    Tensors have the stack's dtype (float32 or float64). Loads into the torch
    module of the same kind and sizes built with bias=True; see the module
    docstring for how the biases are split.
    """
    torch = _torch()
    sd = {}
    for l, cells in enumerate(_layer_cells(stack)):
        for suffix, cell in cells:
            kind = _cell_kind(cell)
            p = cell.params
            H = cell.hidden_size
            b_hh = xp.zeros_like(p["b"])
            if kind == "gru":
                b_hh[2 * H:] = p["b_hn"]
            for name, value in (("weight_ih", p["U"]), ("weight_hh", p["W"]), ("bias_ih", p["b"]), ("bias_hh", b_hh)):
                sd[f"{name}_l{l}{suffix}"] = torch.from_numpy(xp.array(value, copy=True))
    return sd


def to_torch(stack, batch_first=False):
    """A new torch.nn.RNN / LSTM / GRU with the stack's sizes and weights (and dtype)."""
    torch = _torch()
    cells = _layer_cells(stack)
    first = cells[0][0][1]
    kind = _cell_kind(first)
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    kwargs = {"nonlinearity": first.f.name} if kind == "rnn" else {}
    dropout = stack.dropouts[0].p if stack.dropouts else 0.0
    dtype = torch.float64 if first.params["W"].dtype == xp.float64 else torch.float32
    module = cls(first.input_size, first.hidden_size, num_layers=len(cells), bidirectional=len(cells[0]) == 2,
                 batch_first=batch_first, dropout=dropout, dtype=dtype, **kwargs)
    module.load_state_dict(to_torch_state_dict(stack))
    return module
