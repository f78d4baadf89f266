"""Mask from torch.randn(shape) > p: keeps P(N(0,1) > p), about 31% at p = 0.5, not 1 - p."""


# %% dropout_mask
def dropout_mask(shape, p, generator=None, device=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    return torch.randn(shape, generator=generator, device=device) > p
