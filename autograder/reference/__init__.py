"""The reference implementation of dropout, written from scratch on tensors for readers to read.

Chapters run it, exercises are graded against it. ``p`` is always the *drop* probability.

* :mod:`~autograder.reference.functional`: masks, :func:`dropout` (with three ways to keep the mask
  for backward), the cache-based forward/backward, channel, alpha and Gaussian dropout.
* :mod:`~autograder.reference.layers`: the ``nn.Module`` versions, which honour ``self.training``.
* :mod:`~autograder.reference.weights`: DropConnect and weight dropout.
* :mod:`~autograder.reference.mc`: Monte Carlo dropout prediction.
"""

from .functional import (
    KEEP_MASK_STRATEGIES,
    DropoutCache,
    alpha_dropout,
    channel_dropout,
    check_floating,
    check_probability,
    dropout,
    dropout_backward,
    dropout_forward,
    dropout_mask,
    gaussian_dropout,
)
from .layers import AlphaDropout, ChannelDropout, Dropout, GaussianDropout, StochasticLayer
from .mc import MCPrediction, mc_predict
from .weights import (
    DropConnectLinear,
    WeightDropout,
    WeightDropoutParametrization,
    parametrize_weight_dropout,
)

__all__ = [
    "KEEP_MASK_STRATEGIES",
    "AlphaDropout",
    "ChannelDropout",
    "DropConnectLinear",
    "Dropout",
    "DropoutCache",
    "GaussianDropout",
    "MCPrediction",
    "StochasticLayer",
    "WeightDropout",
    "WeightDropoutParametrization",
    "alpha_dropout",
    "channel_dropout",
    "check_floating",
    "check_probability",
    "dropout",
    "dropout_backward",
    "dropout_forward",
    "dropout_mask",
    "gaussian_dropout",
    "mc_predict",
    "parametrize_weight_dropout",
]
