"""Multiplies by mask.float(): half-precision inputs come back as float32."""


# %% dropout_function
class DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, generator=None):
        mask = torch.rand(x.shape, generator=generator, device=x.device) < 1.0 - p
        ctx.save_for_backward(mask)
        ctx.scale = 1.0 / (1.0 - p)
        return x * mask.float() * ctx.scale

    @staticmethod
    def backward(ctx, grad_output):
        (mask,) = ctx.saved_tensors
        return grad_output * mask.float() * ctx.scale, None, None
