"""The chapter-04 experiment runs on the learner's functions: inside ``your_functions`` the
bridges call them, and a broken one changes the bridge's output."""

from __future__ import annotations

import pytest
import torch

from course_lib.vlm import qformer
from course_lib.vlm.qformer import BridgeConfig, MEQFormer
from course_lib.vlm.swap import your_functions


def _bridge_and_inputs():
    torch.manual_seed(0)
    bridge = MEQFormer([6, 5], vocab_size=20, cfg=BridgeConfig(dim=16, depth=1, num_heads=2, queries_per_encoder=2)).eval()
    feats = [torch.randn(2, 3, 6), torch.randn(2, 4, 5)]
    ids = torch.randint(0, 20, (2, 4))
    return bridge, feats, ids, torch.ones(2, 4, dtype=torch.bool)


def test_swapped_functions_are_called_and_restored():
    bridge, feats, ids, mask = _bridge_and_inputs()
    reference = bridge(feats, ids, mask)
    original, calls = qformer.cross_attention, []

    def my_cross_attention(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    with your_functions(cross_attention=my_cross_attention):
        out = bridge(feats, ids, mask)
    assert calls and torch.allclose(out, reference)
    assert qformer.cross_attention is original


def test_a_broken_function_changes_the_bridge():
    bridge, feats, ids, mask = _bridge_and_inputs()
    reference = bridge(feats, ids, mask)
    original = qformer.concat_encoder_features
    with your_functions(concat_encoder_features=lambda f, p: original(f, p) * 0):  # the image never reaches the queries
        broken = bridge(feats, ids, mask)
    assert not torch.allclose(broken, reference)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError):
        with your_functions(softmax=torch.softmax):
            pass
