"""Seeds and draws with NumPy (np.random.seed, np.random.rand): ignores the torch generator and the device."""


# %% dropout_mask
import numpy as np


def dropout_mask(shape, p, generator=None, device=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    return torch.from_numpy(np.random.rand(*tuple(shape)) < 1.0 - p)
