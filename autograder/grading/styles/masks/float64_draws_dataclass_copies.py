"""Draws float64 uniforms (torch.rand(..., dtype=torch.float64)); the cache is a dataclass; evaluation
and p = 0 return copies of x (x.clone()) and backward returns a copy of the gradient."""


# %% dropout_mask
def dropout_mask(shape, p, generator=None, device=None):
    if not 0 <= p <= 1:
        raise ValueError("p must be a probability")
    u = torch.rand(shape, generator=generator, device=device, dtype=torch.float64)
    return u < 1 - p


# %% dropout_forward
from dataclasses import dataclass


@dataclass
class DropoutCache:
    mask: object = None
    scale: float = 1.0


def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError("p must be a probability")
    if not training or p == 0:
        return x.clone(), DropoutCache()
    mask = dropout_mask(x.shape, p, generator=generator, device=x.device)
    if p == 1:
        return x * mask, DropoutCache(mask, 0.0)
    return x * mask / (1 - p), DropoutCache(mask, 1 / (1 - p))


# %% dropout_backward
def dropout_backward(grad_output, cache):
    if cache.mask is None:
        return grad_output.clone()
    return grad_output * cache.mask * cache.scale
