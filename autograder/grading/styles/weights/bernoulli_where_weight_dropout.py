"""WeightDropout drawing with torch.bernoulli on the raw weight's device and selecting with torch.where;
evaluation uses raw + 0 (a plain tensor computed from the parameter); the raw parameter is registered
with setattr of an nn.Parameter."""


# %% weight_dropout
class WeightDropout(nn.Module):
    def __init__(self, module, weight_p=0.5, layer_names=("weight_hh_l0",)):
        super().__init__()
        self.module = module
        self.layer_names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
        if not (0 <= weight_p <= 1):
            raise ValueError(f"weight_p={weight_p} outside [0, 1]")
        self.weight_p = float(weight_p)
        for name in self.layer_names:
            w = getattr(module, name).detach().clone()
            delattr(module, name)
            setattr(self, f"{name}_raw", nn.Parameter(w))
            setattr(module, name, w.clone())

    def dropped(self, raw):
        p = self.weight_p
        if not self.training or p == 0:
            return raw + 0
        if p == 1:
            return torch.zeros_like(raw) * raw
        keep = torch.bernoulli(torch.full_like(raw, 1 - p)).bool()
        return torch.where(keep, raw / (1 - p), torch.zeros_like(raw))

    def forward(self, *args):
        for name in self.layer_names:
            setattr(self.module, name, self.dropped(getattr(self, f"{name}_raw")))
        return self.module(*args)
