"""Measure the memory a piece of PyTorch code holds, on any device, without a GPU profiler (chapter 01).

:class:`LiveTensorMeter` watches every tensor that an operator creates while it is active,
and records the peak of the bytes held by those tensors at once (storages shared by views
are counted once). It is how chapter 01 shows that streaming Infini-attention holds a
constant amount of memory while a KV cache grows with the length.
"""

from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class LiveTensorMeter(TorchDispatchMode):
    """``with LiveTensorMeter() as meter: ...`` then ``meter.peak_bytes`` (and ``meter.live_bytes``)."""

    def __init__(self) -> None:
        super().__init__()
        self.live_bytes = 0
        self.peak_bytes = 0
        self._storages: dict[int, list[int]] = {}  # data_ptr -> [nbytes, live tensors]

    def _release(self, key: int) -> None:
        entry = self._storages.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.live_bytes -= entry[0]
            del self._storages[key]

    def _track(self, t: torch.Tensor, outside: set[int]) -> None:
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key == 0 or (key in outside and key not in self._storages):
            return  # a view of a tensor made before the meter started: not allocated here
        if key in self._storages:
            self._storages[key][1] += 1
        else:
            self._storages[key] = [storage.nbytes(), 1]
            self.live_bytes += storage.nbytes()
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        weakref.finalize(t, self._release, key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        outside = {t.untyped_storage().data_ptr() for t in inputs}
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._track(t, outside)
        return out
