"""Reaches built-in dropout through getattr and a helper, hoping to hide it."""


# %% dropout_forward
def _helper(t, q, flag):
    return getattr(torch, 'drop' + 'out')(t, q, flag)


def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    out = _helper(x, p, training)
    return out, (out != 0, 1.0 / (1.0 - p) if p < 1 else 0.0)
