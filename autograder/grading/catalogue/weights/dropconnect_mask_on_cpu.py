"""Torch.rand(self.weight.shape): the weight mask is made on the CPU."""


# %% dropconnect
class DropConnectLinear(nn.Linear):
    def __init__(self, in_features, out_features, p=0.5, bias=True):
        super().__init__(in_features, out_features, bias=bias)
        self.p = float(p)

    def forward(self, x):
        weight = self.weight
        if self.training and self.p > 0.0:
            mask = torch.rand(weight.shape) < 1.0 - self.p
            weight = weight * mask / (1.0 - self.p)
        return F.linear(x, weight, self.bias)
