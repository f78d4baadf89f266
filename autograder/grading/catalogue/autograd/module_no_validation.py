"""Dropout(p) accepts p outside [0, 1]."""


# %% dropout_module
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = float(p)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        return DropoutFunction.apply(x, self.p, None)
