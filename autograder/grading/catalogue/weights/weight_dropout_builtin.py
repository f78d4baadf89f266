"""F.dropout(raw, ...) on the raw weight: built-in dropout."""


# %% weight_dropout
class WeightDropout(nn.Module):
    def __init__(self, module, weight_p=0.5, layer_names=('weight_hh_l0',)):
        super().__init__()
        self.module = module
        self.layer_names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
        self.weight_p = float(weight_p)
        for name in self.layer_names:
            weight = getattr(module, name)
            delattr(module, name)
            self.register_parameter(f'{name}_raw', nn.Parameter(weight.detach().clone()))
            setattr(module, name, weight.detach().clone())

    def dropped(self, raw):
        return F.dropout(raw, self.weight_p, training=self.training)

    def forward(self, *args):
        for name in self.layer_names:
            setattr(self.module, name, self.dropped(getattr(self, f'{name}_raw')))
        return self.module(*args)
