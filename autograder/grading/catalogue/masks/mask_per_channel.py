"""One draw per (sample, channel), shared along the remaining dimensions, as `nn.Dropout2d` drops
whole feature maps: right for 1- and 2-dim shapes, wrong for images (every pixel of a channel is kept
or dropped together)."""


# %% dropout_mask
def dropout_mask(shape, p, generator=None, device=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    shape = tuple(shape)
    lead = shape[:2]
    keep = torch.rand(lead, generator=generator, device=device) < 1.0 - p
    return keep.reshape(lead + (1,) * (len(shape) - 2)).expand(shape)
