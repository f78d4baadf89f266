"""Without a generator passed in, creates its own on x's device (torch.Generator(device=x.device)),
seeded from the global stream; selects with torch.where; the cache is a namedtuple."""


# %% dropout_mask
def dropout_mask(shape, p, generator=None, device=None):
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"bad p {p}")
    if generator is None:
        generator = torch.Generator(device=device if device is not None else "cpu")
        generator.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
    return torch.rand(shape, generator=generator, device=device) < 1.0 - p


# %% dropout_forward
from collections import namedtuple

Cache = namedtuple("Cache", ["keep", "scale"])


def dropout_forward(x, p=0.5, training=True, generator=None):
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"bad p {p}")
    if not training or p == 0.0:
        return x, Cache(None, 1.0)
    if generator is None:
        generator = torch.Generator(device=x.device)
        generator.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
    keep = dropout_mask(x.shape, p, generator=generator, device=x.device)
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return torch.where(keep, x * scale, torch.zeros_like(x)), Cache(keep, scale)


# %% dropout_backward
def dropout_backward(grad_output, cache):
    if cache.keep is None:
        return grad_output
    return torch.where(cache.keep, grad_output * cache.scale, torch.zeros_like(grad_output))
