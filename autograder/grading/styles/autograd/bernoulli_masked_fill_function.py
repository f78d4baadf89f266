"""The Function draws the mask with torch.bernoulli (then .bool()), zeroes with masked_fill, keeps p on
ctx and computes the scale in backward; the module stores p under an underscore attribute with a property,
calls super(Dropout, self).__init__() and returns a copy (x.clone()) in evaluation."""


# %% dropout_function
class DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, generator=None):
        keep_prob = torch.full_like(x, 1.0 - p)
        mask = torch.bernoulli(keep_prob, generator=generator).bool()
        ctx.save_for_backward(mask)
        ctx.p = p
        return x.masked_fill(~mask, 0.0) / (1.0 - p)

    @staticmethod
    def backward(ctx, grad_output):
        (mask,) = ctx.saved_tensors
        return grad_output.masked_fill(~mask, 0.0) / (1.0 - ctx.p), None, None


# %% dropout_module
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super(Dropout, self).__init__()
        if p < 0 or p > 1:
            raise ValueError("p must be in [0, 1]")
        self._p = float(p)

    @property
    def p(self):
        return self._p

    def forward(self, x):
        if not self.training or self._p == 0.0:
            return x.clone()
        if self._p == 1.0:
            return x * 0.0
        return DropoutFunction.apply(x, self._p, None)
