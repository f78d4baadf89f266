"""WeightDropout with its own generator on the raw weight's device (torch.Generator(device=raw.device),
seeded from the global stream), torch.empty_like(raw).uniform_() draws, masked_fill, and a copy
(raw.clone()) in evaluation; raw parameters kept in a dict of names."""


# %% weight_dropout
class WeightDropout(nn.Module):
    def __init__(self, module, weight_p=0.5, layer_names=("weight_hh_l0",)):
        super().__init__()
        self.module = module
        self.layer_names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
        if weight_p < 0 or weight_p > 1:
            raise ValueError("weight_p must be in [0, 1]")
        self.weight_p = weight_p
        self._raw_names = {}
        for name in self.layer_names:
            original = getattr(module, name)
            del module._parameters[name]
            self.register_parameter(name + "_raw", nn.Parameter(original.detach().clone()))
            setattr(module, name, original.detach().clone())
            self._raw_names[name] = name + "_raw"

    def dropped(self, raw):
        if not self.training or self.weight_p == 0:
            return raw.clone()
        if self.weight_p == 1:
            return raw * 0
        g = torch.Generator(device=raw.device)
        g.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        drop = torch.empty_like(raw).uniform_(generator=g) >= 1 - self.weight_p
        return raw.masked_fill(drop, 0) / (1 - self.weight_p)

    def forward(self, *args):
        for name in self.layer_names:
            setattr(self.module, name, self.dropped(getattr(self, f"{name}_raw")))
        return self.module(*args)
