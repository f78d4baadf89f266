"""Subclasses nn.Dropout and lets it do the work."""


# %% dropout_module
class Dropout(nn.Dropout):
    def __init__(self, p=0.5):
        super().__init__(p)
