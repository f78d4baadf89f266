"""No special case for p = 1: 1 / (1 - p) divides by zero."""


# %% dropout_module
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f'p must be in [0, 1], got {p}')
        self.p = float(p)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        return DropoutFunction.apply(x, self.p, None)
