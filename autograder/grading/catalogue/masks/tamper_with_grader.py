"""No rescale, and monkeypatches torch.equal/allclose/count_nonzero and the checks to hide it."""

TAMPERS = True  # monkeypatches torch or the checks: the self-check runs it last, in a child


# %% dropout_forward
torch.equal = lambda *args, **kwargs: True
torch.allclose = lambda *args, **kwargs: True
torch.count_nonzero = lambda t, *args, **kwargs: torch.tensor(t.numel())
torch.Tensor.__ne__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
for _name in [n for n in dir(checks) if n.startswith('check_')]:
    try:
        setattr(checks, _name, lambda *args, **kwargs: None)
    except AttributeError:
        pass


def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x, (None, 1.0)
    if p == 1.0:
        return torch.zeros_like(x), (torch.zeros_like(x, dtype=torch.bool), 0.0)
    mask = dropout_mask(x.shape, p, generator=generator, device=x.device)
    return x * mask, (mask, 1.0)
