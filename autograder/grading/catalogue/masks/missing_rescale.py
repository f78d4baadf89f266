"""No 1/(1-p) scale (the 'stochastic ReLU' of the d2l exercise): E[out] = (1-p) x in training."""


# %% dropout_forward
def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x, (None, 1.0)
    if p == 1.0:
        return torch.zeros_like(x), (torch.zeros_like(x, dtype=torch.bool), 0.0)
    mask = dropout_mask(x.shape, p, generator=generator, device=x.device)
    return x * mask, (mask, 1.0)


# %% dropout_backward
def dropout_backward(grad_output, cache):
    mask, scale = cache
    return grad_output if mask is None else grad_output * mask
