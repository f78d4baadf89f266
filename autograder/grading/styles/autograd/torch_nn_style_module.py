"""Written the way torch.nn's own modules are: the forward's argument is called ``input`` (shadowing the
built-in, as ``nn.Dropout.forward(self, input)`` does), type hints, ``__constants__``, an ``extra_repr``,
``super().__init__()``, and a keyword-only flag; the Function is the solution's."""


# %% dropout_module
class Dropout(nn.Module):
    __constants__ = ["p"]
    p: float

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if p < 0.0 or p > 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return input
        if self.p == 1.0:
            return input * 0.0
        return DropoutFunction.apply(input, self.p, None)

    def extra_repr(self) -> str:
        return f"p={self.p}"
