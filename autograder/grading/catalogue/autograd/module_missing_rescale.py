"""No 1/(1-p) scale in DropoutFunction."""


# %% dropout_function
class DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, generator=None):
        mask = torch.rand(x.shape, generator=generator, device=x.device) < 1.0 - p
        ctx.save_for_backward(mask)
        ctx.scale = 1.0 / (1.0 - p)
        return x * mask

    @staticmethod
    def backward(ctx, grad_output):
        (mask,) = ctx.saved_tensors
        return grad_output * mask, None, None
