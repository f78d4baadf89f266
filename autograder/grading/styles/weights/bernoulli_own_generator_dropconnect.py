"""DropConnect with its own generator on the weight's device (torch.Generator(device=weight.device),
seeded from the global stream), a torch.bernoulli mask and torch.where; p under an underscore attribute
and nn.Linear.__init__ called explicitly."""


# %% dropconnect
class DropConnectLinear(nn.Linear):
    def __init__(self, in_features, out_features, p=0.5, bias=True):
        nn.Linear.__init__(self, in_features, out_features, bias=bias)
        if not 0.0 <= p <= 1.0:
            raise ValueError("p must be in [0, 1]")
        self._p = p

    @property
    def p(self):
        return self._p

    def forward(self, x):
        w = self.weight
        if not self.training or self._p == 0:
            return F.linear(x, w, self.bias)
        if self._p == 1:
            return F.linear(x, torch.zeros_like(w) * w, self.bias)
        g = torch.Generator(device=w.device)
        g.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        keep = torch.bernoulli(torch.full_like(w, 1 - self._p), generator=g).bool()
        return F.linear(x, torch.where(keep, w / (1 - self._p), torch.zeros_like(w)), self.bias)
