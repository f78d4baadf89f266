"""X.mul_(mask) in forward: modifies the caller's tensor."""


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
        if self.p == 1.0:
            return x * 0.0
        mask = torch.rand(x.shape, device=x.device) < 1.0 - self.p
        return x.mul_(mask).mul_(1.0 / (1.0 - self.p))
