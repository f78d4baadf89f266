"""Draws one keep decision per input feature and broadcasts it over the rows of W: a whole column of
weights (every connection from one input) is kept or dropped together, which is dropout on the inputs
shared by the batch, not DropConnect's independent single weights."""


# %% dropconnect
class DropConnectLinear(nn.Linear):
    def __init__(self, in_features, out_features, p=0.5, bias=True):
        super().__init__(in_features, out_features, bias=bias)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x):
        weight = self.weight
        if self.training and self.p > 0.0:
            if self.p == 1.0:
                weight = weight * 0.0
            else:
                mask = torch.rand(weight.shape[1], device=weight.device) < 1.0 - self.p
                weight = weight * mask / (1.0 - self.p)
        return F.linear(x, weight, self.bias)
