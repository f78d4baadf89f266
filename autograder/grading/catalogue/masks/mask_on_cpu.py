"""Torch.rand(shape) ignores device: the mask is on the CPU whatever device x is on."""


# %% dropout_mask
def dropout_mask(shape, p, generator=None, device=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    return torch.rand(shape, generator=generator) < 1.0 - p
