"""The reference implementation of dropout, written from scratch on tensors for readers to read.

Chapters run it, exercises are graded against it. ``p`` is always the *drop* probability. On the CPU,
under the same seed, every function that PyTorch also has returns PyTorch's bits (outputs, gradients
and the generator's state afterwards); the tests compare integer views.

* :mod:`~autograder.reference.validation`: argument checks with clear errors.
* :mod:`~autograder.reference.masks`: keep masks and noise, drawn as PyTorch's CPU dropout draws them.
* :mod:`~autograder.reference.functional`: :func:`dropout` (with three ways to keep the mask for
  backward, and ``inplace``), :func:`dropout_with_mask` (``torch.native_dropout``'s (output, mask)),
  the cache-based forward/backward.
* :mod:`~autograder.reference.variants`: channel dropout 1d/2d/3d, alpha and feature-alpha dropout,
  Gaussian dropout.
* :mod:`~autograder.reference.layers`: the ``nn.Module`` versions, which honour ``self.training``.
* :mod:`~autograder.reference.weights`: DropConnect and weight dropout.
* :mod:`~autograder.reference.mc`: Monte Carlo dropout prediction.
"""

from .functional import (
    KEEP_MASK_STRATEGIES,
    DropoutCache,
    dropout,
    dropout_backward,
    dropout_forward,
    dropout_mask,
    dropout_with_mask,
)
from .layers import (
    AlphaDropout,
    ChannelDropout,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
    GaussianDropout,
    StochasticLayer,
)
from .mc import MCPrediction, mc_predict
from .validation import DropoutShapeError, check_floating, check_probability
from .variants import (
    alpha_dropout,
    channel_dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    feature_alpha_dropout,
    gaussian_dropout,
)
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
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "DropoutCache",
    "DropoutShapeError",
    "FeatureAlphaDropout",
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
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "dropout_backward",
    "dropout_forward",
    "dropout_mask",
    "dropout_with_mask",
    "feature_alpha_dropout",
    "gaussian_dropout",
    "mc_predict",
    "parametrize_weight_dropout",
]
