"""Dropout as an ensemble: every mask of a tiny network enumerated, and the inference rules compared.

A network with ``n`` droppable units defines ``2**n`` thinned sub-networks, mask ``m`` having probability
``p**dropped * (1-p)**kept``. For a tiny ``n`` (up to about 16) all of them can be run, which gives the
*exact* ensemble predictions that the cheap inference rules approximate (chapter 7):

* the arithmetic mean of the sub-networks' class probabilities (what "averaging the ensemble" means);
* the normalised, probability-weighted geometric mean (Hinton et al. 2012; Srivastava et al. 2014);
* weight scaling, i.e. evaluation mode with inverted dropout: one pass of the full network.

For softmax regression (dropout on the inputs of a single linear layer followed by softmax) weight
scaling equals the normalised geometric mean exactly; behind a nonlinearity it does not.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def all_masks(
    n: int, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Every keep-mask over ``n`` units, shape (2**n, n), entries 0 (dropped) or 1 (kept)."""
    if not 1 <= n <= 20:
        raise ValueError(f"enumerating masks is meant for 1 to 20 units (2**n sub-networks), got n={n}")
    codes = torch.arange(2**n, device=device).unsqueeze(1)
    bits = torch.arange(n, device=device)
    return ((codes >> bits) & 1).to(dtype)


def mask_probabilities(masks: torch.Tensor, p: float) -> torch.Tensor:
    """The probability of each mask under independent drops with probability ``p``; sums to 1."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1) for an ensemble of thinned networks, got {p}")
    kept = masks.sum(dim=1)
    dropped = masks.shape[1] - kept
    return (1 - p) ** kept * p**dropped


def ensemble_log_probs(
    logits_of: Callable[[torch.Tensor], torch.Tensor], masks: torch.Tensor, p: float, *, chunk: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact arithmetic-mean and normalised geometric-mean log-probabilities over all ``masks``.

    ``logits_of(mask)`` returns the logits (N, C) of the sub-network that keeps the units where ``mask``
    is 1 (with the inverted scale ``1/(1-p)`` on the kept units, as in training). Returns two (N, C)
    tensors of log-probabilities: log of sum_m P(m) softmax_m, and the log of the normalised
    exp(sum_m P(m) log softmax_m).
    """
    weights = mask_probabilities(masks, p)
    arithmetic: torch.Tensor | None = None
    geometric: torch.Tensor | None = None
    for start in range(0, len(masks), chunk):
        part = [torch.log_softmax(logits_of(mask), dim=-1) for mask in masks[start : start + chunk]]
        logp = torch.stack(part)  # (chunk, N, C)
        w = weights[start : start + chunk].view(-1, 1, 1).to(logp.dtype)
        a = torch.logsumexp(logp + w.log(), dim=0)
        g = (w * logp).sum(dim=0)
        arithmetic = a if arithmetic is None else torch.logaddexp(arithmetic, a)
        geometric = g if geometric is None else geometric + g
    assert arithmetic is not None and geometric is not None
    return arithmetic, torch.log_softmax(geometric, dim=-1)


def kl_divergence(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(P || Q) per row, from log-probabilities of shape (N, C)."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)
