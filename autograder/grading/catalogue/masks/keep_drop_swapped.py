"""Keeps a unit with probability p (cs231n's convention) while PyTorch's p is the drop probability."""


# %% dropout_mask
def dropout_mask(shape, p, generator=None, device=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    return torch.rand(shape, generator=generator, device=device) < p


# %% dropout_forward
def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not training:
        return x, (None, 1.0)
    if p == 1.0:
        return torch.zeros_like(x), (torch.zeros_like(x, dtype=torch.bool), 0.0)
    mask = dropout_mask(x.shape, p, generator=generator, device=x.device)
    return x * mask / (1.0 - p), (mask, 1.0 / (1.0 - p))
