"""Calls dropout_mask with keywords, rescales with a division, and keeps the cache as a list
[mask, p]; backward recomputes the scale from p."""


# %% dropout_forward
def dropout_forward(x, p=0.5, training=True, generator=None):
    if p < 0.0 or p > 1.0:
        raise ValueError("p out of range")
    if training and p == 1.0:
        return x * 0, [torch.zeros_like(x, dtype=torch.bool), p]
    if not training or p == 0.0:
        return x, [None, p]
    m = dropout_mask(shape=x.shape, p=p, generator=generator, device=x.device)
    return x * m / (1.0 - p), [m, p]


# %% dropout_backward
def dropout_backward(grad_output, cache):
    m, p = cache
    if m is None:
        return grad_output
    if p == 1.0:
        return grad_output * m
    return grad_output * m / (1.0 - p)
