"""Calls torch.nn.functional.dropout instead of implementing it."""


# %% dropout_forward
def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    out = torch.nn.functional.dropout(x, p, training)
    mask = out != 0
    return out, (mask, 1.0 / (1.0 - p) if p < 1 else 0.0)
