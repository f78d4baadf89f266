"""DropConnectLinear at p = 1 computes ``W * mask / (1 - 1)``: 0 / 0 is NaN in every output."""


# %% dropconnect
class DropConnectLinear(nn.Linear):
    def __init__(self, in_features, out_features, p=0.5, bias=True):
        super().__init__(in_features, out_features, bias=bias)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p is the drop probability and must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x):
        weight = self.weight
        if self.training and self.p > 0.0:
            mask = torch.rand(weight.shape, device=weight.device) < 1.0 - self.p
            weight = weight * mask / (1.0 - self.p)
        return F.linear(x, weight, self.bias)
