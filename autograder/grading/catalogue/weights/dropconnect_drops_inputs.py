"""Drops the inputs (ordinary dropout, one mask per sample) instead of the weights."""


# %% dropconnect
class DropConnectLinear(nn.Linear):
    def __init__(self, in_features, out_features, p=0.5, bias=True):
        super().__init__(in_features, out_features, bias=bias)
        self.p = float(p)

    def forward(self, x):
        if self.training and self.p > 0.0:
            mask = torch.rand(x.shape, device=x.device) < 1.0 - self.p
            x = x * mask / (1.0 - self.p)
        return F.linear(x, self.weight, self.bias)
