"""DropConnect as Wan et al. (2013) describe it: a mask per example, and Gaussian moment-matching inference.

The reference :class:`autograder.reference.DropConnectLinear` draws one weight mask per forward, shared by
the minibatch. Wan et al. draw one per *example*: :class:`PerExampleDropConnectLinear` does, at the cost
of a (batch, out, in) mask.

At test time the pre-activation of a DropConnect layer, ``u = ((W * M) / (1-p)) v + b``, is a sum of many
independent terms, approximately Gaussian with

    mean  mu = W v + b,        variance  sigma^2 = p / (1-p) * (W**2) (v**2).

Wan et al. infer by averaging the activation over samples of that Gaussian
(:func:`sampled_activation`); for a ReLU the average has a closed form,
``E[relu(u)] = mu Phi(mu/sigma) + sigma phi(mu/sigma)`` (:func:`expected_relu`). Mean-weight inference
(``relu(mu)``, what evaluation mode does) ignores the variance; since ReLU is convex, Jensen's inequality
says it underestimates the mean activation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from autograder.reference.functional import check_probability


class PerExampleDropConnectLinear(nn.Linear):
    """A linear layer whose weights are dropped with a fresh mask for every example (Wan et al. 2013)."""

    def __init__(self, in_features: int, out_features: int, p: float = 0.5, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.p = check_probability(p, allow_one=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return nn.functional.linear(x, self.weight, self.bias)
        if x.dim() != 2:
            raise ValueError(
                f"PerExampleDropConnectLinear takes a (batch, features) input, got {tuple(x.shape)}"
            )
        keep = 1 - self.p
        mask = torch.empty((len(x), *self.weight.shape), device=x.device, dtype=x.dtype).bernoulli_(keep)
        out = torch.einsum("boi,bi->bo", mask * self.weight, x) / keep
        return out + self.bias if self.bias is not None else out

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"


def gaussian_moments(layer: nn.Linear, v: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of a DropConnect layer's pre-activation for inputs ``v`` (N, in), inverted scale."""
    p = check_probability(p, allow_one=False)
    mean = nn.functional.linear(v, layer.weight, layer.bias)
    variance = p / (1 - p) * nn.functional.linear(v.square(), layer.weight.square())
    return mean, variance


def expected_relu(mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """E[relu(u)] for u ~ N(mean, variance), elementwise (exact; relu(mean) where the variance is 0)."""
    std = variance.clamp_min(0).sqrt()
    safe = std.clamp_min(1e-12)
    z = mean / safe
    normal = torch.distributions.Normal(torch.zeros((), dtype=mean.dtype), torch.ones((), dtype=mean.dtype))
    value = mean * normal.cdf(z) + std * torch.exp(-0.5 * z.square()) / math.sqrt(2 * math.pi)
    return torch.where(std > 0, value, mean.clamp_min(0))


def sampled_activation(
    mean: torch.Tensor, variance: torch.Tensor, samples: int, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Wan et al.'s inference: the ReLU averaged over ``samples`` draws of N(mean, variance)."""
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    draws = torch.randn((samples, *mean.shape), generator=generator, dtype=mean.dtype, device=mean.device)
    return torch.relu(mean + draws * variance.clamp_min(0).sqrt()).mean(dim=0)


@torch.no_grad()
def mc_activation(
    layer: nn.Linear, v: torch.Tensor, p: float, samples: int, *, chunk: int = 4
) -> torch.Tensor:
    """The mean over ``samples`` per-example weight masks of relu(DropConnect layer(v)): the target."""
    keep = 1 - check_probability(p, allow_one=False)
    total = torch.zeros(len(v), layer.out_features, dtype=v.dtype, device=v.device)
    done = 0
    while done < samples:
        k = min(chunk, samples - done)
        mask = torch.empty((k, len(v), *layer.weight.shape), dtype=v.dtype, device=v.device).bernoulli_(keep)
        u = torch.einsum("kboi,bi->kbo", mask * layer.weight, v) / keep + layer.bias
        total += torch.relu(u).sum(dim=0)
        done += k
    return total / samples
