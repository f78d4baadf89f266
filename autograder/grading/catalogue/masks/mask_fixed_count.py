"""Keeps exactly round((1 - p) * n) units, chosen by a random permutation: the keep rate is right on
average and every unit is equally likely to be kept, but the number kept never varies (and on one unit
at p = 0.5 it is always round(0.5) = 0, so the unit is always dropped)."""


# %% dropout_mask
def dropout_mask(shape, p, generator=None, device=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    n = torch.Size(shape).numel()
    keep = round((1.0 - p) * n)
    order = torch.randperm(n, generator=generator, device=device)
    mask = torch.zeros(n, dtype=torch.bool, device=device)
    mask[order[:keep]] = True
    return mask.reshape(shape)
