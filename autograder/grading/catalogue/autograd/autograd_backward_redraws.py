"""Backward draws a fresh mask instead of reading ctx.saved_tensors."""


# %% dropout_function
class DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, generator=None):
        mask = torch.rand(x.shape, generator=generator, device=x.device) < 1.0 - p
        ctx.save_for_backward(mask)
        ctx.scale = 1.0 / (1.0 - p)
        return x * mask * ctx.scale

    @staticmethod
    def backward(ctx, grad_output):
        keep = 1.0 - 1.0 / ctx.scale
        mask = torch.rand(grad_output.shape, device=grad_output.device) < keep
        return grad_output * mask * ctx.scale, None, None
