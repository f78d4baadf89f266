"""The cache keeps the output and backward rebuilds the mask as `out != 0`: right whenever x has no
zeros, but a kept unit whose input is exactly 0 (after a ReLU, say) gets no gradient."""


# %% dropout_forward
def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x, None
    if p == 1.0:
        return torch.zeros_like(x), (torch.zeros_like(x), 0.0)
    mask = dropout_mask(x.shape, p, generator=generator, device=x.device)
    scale = 1.0 / (1.0 - p)
    out = x * mask * scale
    return out, (out, scale)


# %% dropout_backward
def dropout_backward(grad_output, cache):
    if cache is None:
        return grad_output
    out, scale = cache
    return grad_output * (out != 0) * scale
