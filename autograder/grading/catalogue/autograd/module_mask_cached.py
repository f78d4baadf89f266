"""Draws a mask at the first call and reuses it while the shape stays the same."""


# %% dropout_module
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f'p must be in [0, 1], got {p}')
        self.p = float(p)
        self.mask = None

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        if self.mask is None or self.mask.shape != x.shape:
            self.mask = torch.rand(x.shape, device=x.device) < 1.0 - self.p
        return x * self.mask / (1.0 - self.p)
