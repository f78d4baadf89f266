"""One mask row broadcast over the batch: every sample drops the same units."""


# %% dropout_mask
def dropout_mask(shape, p, generator=None, device=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    shape = tuple(shape)
    row = torch.rand(shape[-1:], generator=generator, device=device) < 1.0 - p
    return row.expand(shape)
