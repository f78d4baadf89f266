"""The module creates its own generator on x's device for every call (torch.Generator(device=x.device)),
seeded from the global stream, and passes it to DropoutFunction; the Function draws with torch.rand."""


# %% dropout_module
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return torch.zeros_like(x) * x
        generator = torch.Generator(device=x.device)
        generator.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        return DropoutFunction.apply(x, self.p, generator)
