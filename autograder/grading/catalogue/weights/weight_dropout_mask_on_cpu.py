"""WeightDropout draws its mask with ``torch.rand(raw.shape)``: on the CPU, whatever the weight's device."""


# %% weight_dropout
class WeightDropout(nn.Module):
    def __init__(self, module, weight_p=0.5, layer_names=('weight_hh_l0',)):
        super().__init__()
        self.module = module
        self.layer_names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
        if not 0.0 <= weight_p <= 1.0:
            raise ValueError(f"weight_p must be in [0, 1], got {weight_p}")
        self.weight_p = float(weight_p)
        for name in self.layer_names:
            weight = getattr(module, name)
            delattr(module, name)
            self.register_parameter(f'{name}_raw', nn.Parameter(weight.detach().clone()))
            setattr(module, name, weight.detach().clone())

    def dropped(self, raw):
        if not self.training or self.weight_p == 0.0:
            return raw * 1.0
        if self.weight_p == 1.0:
            return raw * 0.0
        mask = torch.rand(raw.shape) < 1.0 - self.weight_p
        return raw * mask / (1.0 - self.weight_p)

    def forward(self, *args):
        for name in self.layer_names:
            setattr(self.module, name, self.dropped(getattr(self, f'{name}_raw')))
        return self.module(*args)
