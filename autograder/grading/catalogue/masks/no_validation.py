"""Accepts p outside [0, 1] silently."""


# %% dropout_mask
def dropout_mask(shape, p, generator=None, device=None):
    return torch.rand(shape, generator=generator, device=device) < 1.0 - p


# %% dropout_forward
def dropout_forward(x, p=0.5, training=True, generator=None):
    if not training or p == 0.0:
        return x, (None, 1.0)
    if p == 1.0:
        return torch.zeros_like(x), (torch.zeros_like(x, dtype=torch.bool), 0.0)
    mask = dropout_mask(x.shape, p, generator=generator, device=x.device)
    return x * mask / (1.0 - p), (mask, 1.0 / (1.0 - p))
