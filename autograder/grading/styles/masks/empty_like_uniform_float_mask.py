"""The forward draws its own uniforms with torch.empty_like(x).uniform_(generator=...) and keeps a float
mask of x's dtype (already scaled) in a tuple cache; the mask function uses torch.rand_like-free rand."""


# %% dropout_forward
def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x, None
    if p == 1.0:
        scaled_mask = torch.zeros_like(x)
        return x * scaled_mask, scaled_mask
    keep = torch.empty_like(x).uniform_(generator=generator) < 1.0 - p
    scaled_mask = keep.to(x.dtype) / (1.0 - p)
    return x * scaled_mask, scaled_mask


# %% dropout_backward
def dropout_backward(grad_output, cache):
    return grad_output if cache is None else grad_output * cache
