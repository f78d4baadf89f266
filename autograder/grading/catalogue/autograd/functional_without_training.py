"""F.dropout(x, self.p) without training=self.training: built-in, and drops in eval mode."""


# %% dropout_module
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f'p must be in [0, 1], got {p}')
        self.p = float(p)

    def forward(self, x):
        return torch.nn.functional.dropout(x, self.p)
