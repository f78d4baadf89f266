"""DropoutFunction draws its mask from the global generator, ignoring the ``generator`` it is given."""


# %% dropout_function
class DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, generator=None):
        mask = torch.rand(x.shape, device=x.device) < 1.0 - p
        ctx.save_for_backward(mask)
        ctx.scale = 1.0 / (1.0 - p)
        return x * mask * ctx.scale

    @staticmethod
    def backward(ctx, grad_output):
        (mask,) = ctx.saved_tensors
        return grad_output * mask * ctx.scale, None, None
