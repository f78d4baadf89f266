"""The Function keeps a unit when a float64 uniform is at least p, multiplies by a bool mask cast to x's
dtype, and stores the scale on ctx; the module keeps p in a private attribute set through a property
setter that validates it."""


# %% dropout_function
class DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, generator=None):
        mask = torch.rand(x.shape, generator=generator, device=x.device, dtype=torch.float64) >= p
        ctx.save_for_backward(mask)
        ctx.scale = 1.0 / (1.0 - p)
        return x * mask.to(x.dtype) * ctx.scale

    @staticmethod
    def backward(ctx, grad_output):
        (mask,) = ctx.saved_tensors
        return grad_output * mask.to(grad_output.dtype) * ctx.scale, None, None


# %% dropout_module
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    @property
    def p(self):
        return self._p

    @p.setter
    def p(self, value):
        if not 0 <= value <= 1:
            raise ValueError(f"p must be in [0, 1], got {value}")
        self._p = float(value)

    def forward(self, x):
        if not self.training or self._p == 0:
            return x
        if self._p == 1:
            return x.mul(0.0)
        return DropoutFunction.apply(x, self._p, None)
