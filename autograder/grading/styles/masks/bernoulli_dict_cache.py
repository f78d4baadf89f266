"""Draws the mask with torch.bernoulli on a tensor of keep probabilities made on the device; the forward
keeps its cache as a dict and zeroes with masked_fill; backward reads the dict (None mask = identity)."""


# %% dropout_mask
def dropout_mask(shape, p, generator=None, device=None):
    if p < 0 or p > 1:
        raise ValueError("p must lie in [0, 1]")
    keep = torch.full(tuple(shape), 1.0 - p, device=device)
    return torch.bernoulli(keep, generator=generator).bool()


# %% dropout_forward
def dropout_forward(x, p=0.5, training=True, generator=None):
    if p < 0 or p > 1:
        raise ValueError("p must lie in [0, 1]")
    if not training or p == 0:
        return x, {"mask": None, "scale": 1.0}
    if p == 1:
        nothing = torch.zeros(x.shape, dtype=torch.bool, device=x.device)
        return torch.zeros_like(x), {"mask": nothing, "scale": 0.0}
    mask = dropout_mask(x.shape, p, generator, x.device)
    scale = 1.0 / (1.0 - p)
    return x.masked_fill(~mask, 0) * scale, {"mask": mask, "scale": scale}


# %% dropout_backward
def dropout_backward(grad_output, cache):
    if cache["mask"] is None:
        return grad_output
    return grad_output.masked_fill(~cache["mask"], 0) * cache["scale"]
