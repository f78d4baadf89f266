"""Draws the mask once and caches it: every call drops the same units."""


# %% dropout_mask
_MASKS = {}


def dropout_mask(shape, p, generator=None, device=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    key = (tuple(shape), float(p), str(device))
    if key not in _MASKS:
        _MASKS[key] = torch.rand(shape, generator=generator, device=device) < 1.0 - p
    return _MASKS[key]
