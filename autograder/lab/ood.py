"""Out-of-distribution inputs for the course's classifiers, available offline on every machine.

Chapter 6 asks whether Monte Carlo dropout is less certain about inputs unlike its training data. Two
kinds of such inputs are built here, whichever dataset :func:`autograder.lab.data.load_dataset` gave:

* :func:`hold_out_classes` keeps the first ``known`` classes for training and testing and sets the
  test images of the other classes aside: images of the same kind (digits or clothes) from classes the
  model never saw, *near* out-of-distribution;
* :func:`natural_patches` cuts 28x28 grey patches from the two photographs scikit-learn ships
  (``sklearn.datasets.load_sample_images``: a temple in China and a flower), *far*
  out-of-distribution.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch.utils.data import TensorDataset

from .data import CourseData


def hold_out_classes(data: CourseData, known: int) -> tuple[CourseData, torch.Tensor]:
    """``(data restricted to classes 0..known-1, test images of the other classes)``.

    Labels of the kept classes are unchanged (they are already ``0..known-1``); the returned data's
    ``classes`` lists only them, and its name says which classes were held out.
    """
    n_classes = len(data.classes)
    if isinstance(known, bool) or not isinstance(known, int) or not 2 <= known < n_classes:
        raise ValueError(f"known must be an integer in [2, {n_classes - 1}], got {known!r}")

    def keep(dataset: TensorDataset) -> TensorDataset:
        images, labels = dataset.tensors
        chosen = labels < known
        return TensorDataset(images[chosen], labels[chosen])

    test_images, test_labels = data.test.tensors
    held_out = test_images[test_labels >= known]
    names = ", ".join(data.classes[known:])
    restricted = replace(
        data,
        name=f"{data.name}, classes {', '.join(data.classes[:known])} (held out: {names})",
        train=keep(data.train),
        test=keep(data.test),
        classes=tuple(data.classes[:known]),
    )
    return restricted, held_out


def natural_patches(n: int, *, generator: torch.Generator | None = None, downscale: int = 4) -> torch.Tensor:
    """``n`` random 28x28 grey patches in [0, 1], shape ``(n, 1, 28, 28)``, from scikit-learn's photos.

    Each photograph is converted to grey and shrunk ``downscale`` times by averaging (so a patch
    covers more than a few pixels of texture) before the patches are cut at random positions.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(downscale, bool) or not isinstance(downscale, int) or downscale < 1:
        raise ValueError(f"downscale must be a positive integer, got {downscale!r}")
    from sklearn.datasets import load_sample_images

    photos = []
    for image in load_sample_images().images:
        grey = torch.tensor(image, dtype=torch.float32).mean(dim=-1) / 255.0  # (H, W), a copy
        photos.append(torch.nn.functional.avg_pool2d(grey[None, None], downscale)[0, 0])
    patches = torch.empty(n, 1, 28, 28)
    which = torch.randint(len(photos), (n,), generator=generator)
    for i in range(n):
        photo = photos[int(which[i])]
        top = int(torch.randint(photo.shape[0] - 27, (1,), generator=generator))
        left = int(torch.randint(photo.shape[1] - 27, (1,), generator=generator))
        patches[i, 0] = photo[top:top + 28, left:left + 28]
    return patches
