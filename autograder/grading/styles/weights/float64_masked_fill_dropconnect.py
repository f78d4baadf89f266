"""DropConnect drawing float64 uniforms on the weight's device and zeroing with masked_fill; builds the
output as x @ W.T + b instead of F.linear, and handles bias=None."""


# %% dropconnect
class DropConnectLinear(nn.Linear):
    def __init__(self, in_features, out_features, p=0.5, bias=True):
        super().__init__(in_features, out_features, bias)
        if p < 0 or p > 1:
            raise ValueError(f"p={p} is not a probability")
        self.p = float(p)

    def forward(self, x):
        weight = self.weight
        if self.training and self.p == 1.0:
            weight = weight * 0.0
        elif self.training and self.p > 0.0:
            u = torch.rand(weight.shape, dtype=torch.float64, device=weight.device)
            weight = weight.masked_fill(u >= 1.0 - self.p, 0.0) / (1.0 - self.p)
        out = x @ weight.t()
        return out if self.bias is None else out + self.bias
