"""The activation functions f of 式2, each with its derivative written in terms
of its output y = f(net), as the article does (tanh' = 1 - y^2).

Expressing f' through y means backward needs only the stored states s_t, not
the pre-activations net_t: the Elman layer keeps one array per step, not two.
"""

from rnnkit.backend import xp


class Activation:
    name = None

    def forward(self, net, out=None):
        """y = f(net); writes into ``out`` when given (may be ``net`` itself)."""
        raise NotImplementedError

    def derivative(self, y):
        """f'(net) computed from y = f(net)."""
        raise NotImplementedError


class Tanh(Activation):
    name = "tanh"

    def forward(self, net, out=None):
        return xp.tanh(net, out=out)

    def derivative(self, y):
        return 1.0 - y * y  # tanh'(net) = 1 - tanh(net)^2


class Sigmoid(Activation):
    name = "sigmoid"

    def forward(self, net, out=None):
        # 1 / (1 + e^-net) through exp, which NumPy computes in half the time of
        # tanh. Where net < -88 (float32), e^-net overflows to inf and 1 / inf = 0
        # is exactly the limit, so that overflow is not worth a warning.
        out = xp.negative(net, out=out)
        with xp.errstate(over="ignore"):
            xp.exp(out, out=out)
        out += 1.0
        return xp.reciprocal(out, out=out)

    def derivative(self, y):
        return y * (1.0 - y)  # sigma' = sigma (1 - sigma)


class ReLU(Activation):
    name = "relu"

    def forward(self, net, out=None):
        return xp.maximum(net, 0, out=out)

    def derivative(self, y):
        return (y > 0).astype(y.dtype)  # 1 where net > 0, else 0


class Identity(Activation):
    name = "identity"

    def forward(self, net, out=None):
        if out is None:
            return net.copy()
        if out is not net:
            out[...] = net
        return out

    def derivative(self, y):
        return xp.ones_like(y)


ACTIVATIONS = {cls.name: cls for cls in (Tanh, Sigmoid, ReLU, Identity)}


def get_activation(name):
    """The activation called ``name`` (an Activation instance is passed through)."""
    if isinstance(name, Activation):
        return name
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()
