"""Counting a model's parameters (chapter 01: the paper's LM and the 1B passkey model; chapter 03:
iLLaMA's sizes against the paper's Tables 6 and 11)."""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model``, trainable or frozen (works on the ``meta`` device too)."""
    return sum(p.numel() for p in model.parameters())
