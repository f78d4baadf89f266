"""In evaluation mode forward returns ``(x, None)`` as its cache, and backward unpacks the cache as
``mask, scale``: the gradient of an evaluation-mode forward raises instead of passing ``g`` through."""


# %% dropout_forward
def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p is the drop probability and must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x, None
    if p == 1.0:
        return torch.zeros_like(x), (torch.zeros_like(x, dtype=torch.bool), 0.0)
    mask = dropout_mask(x.shape, p, generator=generator, device=x.device)
    scale = 1.0 / (1.0 - p)
    return x * mask * scale, (mask, scale)


# %% dropout_backward
def dropout_backward(grad_output, cache):
    mask, scale = cache
    return grad_output * mask * scale
