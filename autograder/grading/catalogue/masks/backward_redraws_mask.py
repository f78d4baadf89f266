"""Backward draws a new mask instead of using the forward's."""


# %% dropout_backward
def dropout_backward(grad_output, cache):
    mask, scale = cache
    if mask is None:
        return grad_output
    if scale == 0.0:
        return grad_output * 0.0
    fresh = dropout_mask(grad_output.shape, 1.0 - 1.0 / scale, device=grad_output.device)
    return grad_output * fresh * scale
