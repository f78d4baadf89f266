"""No special case for p = 1: x * mask / (1 - p) is 0 / 0 = NaN."""


# %% dropout_forward
def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x, (None, 1.0)
    mask = dropout_mask(x.shape, p, generator=generator, device=x.device)
    return x * mask / (1.0 - p), (mask, p)


# %% dropout_backward
def dropout_backward(grad_output, cache):
    mask, p = cache
    return grad_output if mask is None else grad_output * mask / (1.0 - p)
