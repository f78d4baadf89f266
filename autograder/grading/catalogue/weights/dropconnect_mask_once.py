"""Draws the weight mask once in __init__ and reuses it every forward."""


# %% dropconnect
class DropConnectLinear(nn.Linear):
    def __init__(self, in_features, out_features, p=0.5, bias=True):
        super().__init__(in_features, out_features, bias=bias)
        self.p = float(p)
        mask = torch.rand(out_features, in_features) < 1.0 - self.p
        self.register_buffer('mask', mask)

    def forward(self, x):
        weight = self.weight
        if self.training and self.p > 0.0:
            weight = weight * self.mask.to(weight.device) / (1.0 - self.p)
        return F.linear(x, weight, self.bias)
