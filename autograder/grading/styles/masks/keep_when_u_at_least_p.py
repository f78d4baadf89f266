"""Keeps a unit when its uniform draw is at least p (torch.rand(...) >= p, also True with probability
1 - p), rescales by multiplying with 1 / (1 - p) computed once, and returns a plain tuple cache."""


# %% dropout_mask
def dropout_mask(shape, p, generator=None, device=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p={p} is not in [0, 1]")
    return torch.rand(*shape, generator=generator, device=device) >= p


# %% dropout_forward
def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p={p} is not in [0, 1]")
    if training and p > 0:
        keep = dropout_mask(tuple(x.shape), p, generator, x.device)
        factor = 0.0 if p == 1 else 1.0 / (1.0 - p)
        return x * keep * factor, (keep, factor)
    return x, (torch.ones_like(x, dtype=torch.bool), 1.0)


# %% dropout_backward
def dropout_backward(grad_output, cache):
    keep, factor = cache
    return grad_output * keep * factor
