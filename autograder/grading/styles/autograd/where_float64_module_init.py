"""The Function draws float64 uniforms with torch.empty_like(x, dtype=torch.float64).uniform_() and selects
with torch.where; the module calls nn.Module.__init__(self) and keeps the scale precomputed."""


# %% dropout_function
class DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, generator=None):
        u = torch.empty_like(x, dtype=torch.float64).uniform_(generator=generator)
        mask = u < 1.0 - p
        ctx.save_for_backward(mask)
        ctx.scale = 1.0 / (1.0 - p)
        return torch.where(mask, x * ctx.scale, torch.zeros_like(x))

    @staticmethod
    def backward(ctx, grad_output):
        (mask,) = ctx.saved_tensors
        grad = torch.where(mask, grad_output * ctx.scale, torch.zeros_like(grad_output))
        return grad, None, None


# %% dropout_module
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        nn.Module.__init__(self)
        if not (0 <= p <= 1):
            raise ValueError(f"invalid dropout probability {p}")
        self.p = p

    def extra_repr(self):
        return f"p={self.p}"

    def forward(self, x):
        if self.training and 0 < self.p < 1:
            return DropoutFunction.apply(x, self.p, None)
        if self.training and self.p == 1:
            return torch.zeros_like(x) + 0 * x
        return x
