"""How many bytes autograd keeps for backward: measured, not read off the source.

``torch.autograd.graph.saved_tensors_hooks`` sees every tensor an operation saves for its backward
pass (built-in ops and custom ``autograd.Function``s alike). :func:`saved_bytes` runs a function under
such a hook and adds up the storage of what was saved, counting a storage once however many times it
is saved. The input itself is excluded when asked, because whether it counts depends on whether the
caller would have kept it alive anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass
class SavedTensors:
    """What was saved for backward: one entry per distinct storage."""

    entries: list[tuple[torch.dtype, tuple[int, ...], int]] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(nbytes for _, _, nbytes in self.entries)

    def bytes_per_element(self, numel: int) -> float:
        return self.total_bytes / numel


def saved_bytes(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    exclude_input: bool = True,
) -> SavedTensors:
    """Run ``fn(x)`` (x should require grad) and report what autograd saved for its backward."""
    seen: set[int] = set()
    result = SavedTensors()
    input_storage = x.untyped_storage().data_ptr()

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in seen and not (exclude_input and key == input_storage):
            seen.add(key)
            result.entries.append((tensor.dtype, tuple(tensor.shape), storage.nbytes()))
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn(x)
    return result
