"""Returns `x.detach()` in evaluation mode ("no gradients are needed at test time"): the values are
right, but nothing can be differentiated through an evaluated layer (fine-tuning a frozen-dropout
model, saliency maps)."""


# %% dropout_module
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x.detach()
        if self.p == 1.0:
            return x * 0.0
        return DropoutFunction.apply(x, self.p, None)
