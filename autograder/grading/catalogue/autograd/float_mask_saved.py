"""Saves the scaled float mask (4 bytes per element) instead of the bool mask."""


# %% dropout_function
class DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, generator=None):
        mask = torch.rand(x.shape, generator=generator, device=x.device) < 1.0 - p
        scaled = mask.to(x.dtype) / (1.0 - p)
        ctx.save_for_backward(scaled)
        return x * scaled

    @staticmethod
    def backward(ctx, grad_output):
        (scaled,) = ctx.saved_tensors
        return grad_output * scaled, None, None
