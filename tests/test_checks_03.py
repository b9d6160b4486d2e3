"""Chapter 03 checkers accept correct implementations and reject plausible wrong ones, in words."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib.attention import rmsnorm as rms_ref
from course_lib.attention import rope as rope_ref
from course_lib.attention import swiglu_ffn as swiglu_ref
from course_lib.grading import checks_03
from course_lib.grading.checking import CheckFailed
from course_lib.vision import masks as masks_ref
from course_lib.vision import soft_mask_schedule as schedule_ref


# --- correct implementations, written independently of course_lib (the checker refuses course_lib's own) ---

def rms_norm(x, weight, eps=1e-6):
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def hidden_dim(dim, mlp_ratio=4.0, multiple_of=256):
    h = int(2 * int(dim * mlp_ratio) / 3)
    return -(-h // multiple_of) * multiple_of


def swiglu(x, w1, w2, w3):
    return F.linear(F.silu(F.linear(x, w1)) * F.linear(x, w3), w2)


def mask(n, kind, pos="first"):
    m = torch.ones(n, n).tril().bool() if kind != "bidirectional" else torch.ones(n, n, dtype=torch.bool)
    if kind == "modified":
        m[0 if pos == "first" else -1] = True
    return m


def add_cls(patches, cls, pos):
    cls = cls.expand(patches.shape[0], -1, -1)
    return (torch.cat([cls, patches], 1), 0) if pos == "first" else (torch.cat([patches, cls], 1), patches.shape[1])


def angles(n, d, theta=10000.0):
    return torch.arange(n).float()[:, None] / theta ** (torch.arange(0, d, 2).float() / d)


def apply_rope(x, ang):
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2).contiguous())
    return torch.view_as_real(xc * torch.polar(torch.ones_like(ang), ang)).flatten(-2)


def alpha(step, cutoff, schedule="linear"):
    if step >= cutoff:
        return 0.0
    return 1.0 - step / cutoff if schedule == "linear" else 1.0


def soft(hard, a):
    return torch.where(hard, torch.ones(()), torch.full((), float(a)))


def test_checkers_accept_correct_code(capsys):
    checks_03.check_rms_norm(rms_norm)
    checks_03.check_swiglu(hidden_dim, swiglu)
    checks_03.check_class_token_mask(mask)
    checks_03.check_add_class_token(add_cls)
    checks_03.check_rope(angles, apply_rope)
    checks_03.check_soft_mask(alpha, soft)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        "✅ 03-1 RMSNorm: correct",
        "✅ 03-2 SwiGLU and its hidden size: correct",
        "✅ 03-3 causal and modified attention masks (eq. 1): correct",
        "✅ 03-4 post-sequence class token: correct",
        "✅ 03-5 rotary position embedding (RoPE): correct",
        "✅ 03-6 soft mask and its schedule (eq. 2): correct",
        "progress of chapter 03: all 6 exercises pass in this kernel",
    ]


def test_checkers_refuse_course_lib_reference():
    with pytest.raises(CheckFailed, match="imported rather than written"):
        checks_03.check_rms_norm(rms_ref.rms_norm)


# --- wrong implementations ---

RMS_WRONG = {
    "LayerNorm": (lambda x, w, eps=1e-6: F.layer_norm(x, x.shape[-1:], w, None, eps), "this is LayerNorm"),
    "eps outside": (lambda x, w, eps=1e-6: x / (x.pow(2).mean(-1, keepdim=True).sqrt() + eps) * w, "outside the square root"),
    "no weight": (lambda x, w, eps=1e-6: x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps), "gain is not applied"),
    "wrong dim": (lambda x, w, eps=1e-6: x / torch.sqrt(x.pow(2).mean(0, keepdim=True) + eps) * w, "wrong dimension"),
    "std": (lambda x, w, eps=1e-6: x / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + eps) * w, "standard deviation"),
    "in place": (lambda x, w, eps=1e-6: x.div_(torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)).mul_(w), "in place"),
    "raises": (lambda x, w, eps=1e-6: (_ for _ in ()).throw(NotImplementedError()), "not implemented yet"),
}


@pytest.mark.parametrize("name", sorted(RMS_WRONG))
def test_rms_norm_rejects(name):
    fn, message = RMS_WRONG[name]
    with pytest.raises(CheckFailed, match=message):
        checks_03.check_rms_norm(fn)


HIDDEN_WRONG = {
    "round down": (lambda d, r=4.0, m=256: int(2 * int(d * r) / 3) // m * m, "rounds down"),
    "no 2/3": (lambda d, r=4.0, m=256: int(d * r), "2/3 factor is missing"),
    "not rounded": (lambda d, r=4.0, m=256: int(2 * int(d * r) / 3), "does not round"),
    "float": (lambda d, r=4.0, m=256: float(hidden_dim(d, r, m)), "Python int"),
}


@pytest.mark.parametrize("name", sorted(HIDDEN_WRONG))
def test_swiglu_hidden_rejects(name):
    fn, message = HIDDEN_WRONG[name]
    with pytest.raises(CheckFailed, match=message):
        checks_03.check_swiglu(fn, swiglu)


SWIGLU_WRONG = {
    "gelu": (lambda x, w1, w2, w3: F.linear(F.gelu(F.linear(x, w1)) * F.linear(x, w3), w2), "GELU"),
    "sigmoid": (lambda x, w1, w2, w3: F.linear(torch.sigmoid(F.linear(x, w1)) * F.linear(x, w3), w2), "plain sigmoid"),
    "swapped": (lambda x, w1, w2, w3: F.linear(F.silu(F.linear(x, w3)) * F.linear(x, w1), w2), "W3 branch"),
    "no gate": (lambda x, w1, w2, w3: F.linear(F.silu(F.linear(x, w1)), w2), "no gating"),
}


@pytest.mark.parametrize("name", sorted(SWIGLU_WRONG))
def test_swiglu_rejects(name):
    fn, message = SWIGLU_WRONG[name]
    with pytest.raises(CheckFailed, match=message):
        checks_03.check_swiglu(hidden_dim, fn)


def _partial_modified(n, kind, pos="first"):
    m = mask(n, "causal", pos)
    if kind == "modified":
        row = 0 if pos == "first" else n - 1
        m[row, : max(1, n // 2)] = True  # the class token sees only the first half
    return mask(n, kind, pos) if kind != "modified" else m


def _column_modified(n, kind, pos="first"):
    m = mask(n, kind, pos)
    if kind == "modified":
        m[:, 0 if pos == "first" else -1] = True
    return m


MASK_WRONG = {
    "transposed": (lambda n, kind, pos="first": mask(n, kind, pos).T.contiguous(), "transpose"),
    "strict": (lambda n, kind, pos="first": torch.ones(n, n, dtype=torch.bool).tril(-1) if kind != "bidirectional" else mask(n, kind), "diagonal is masked"),
    "modified = causal": (lambda n, kind, pos="first": mask(n, "causal" if kind == "modified" else kind, pos), "still causal"),
    "modified partly": (_partial_modified, "sees only"),
    "modified column": (_column_modified, "column"),
    "float": (lambda n, kind, pos="first": mask(n, kind, pos).float(), "boolean"),
    "causal unmasks cls": (lambda n, kind, pos="first": mask(n, "modified" if kind == "causal" else kind, "first"), "modified mask, not the causal one"),
}


@pytest.mark.parametrize("name", sorted(MASK_WRONG))
def test_mask_rejects(name):
    fn, message = MASK_WRONG[name]
    with pytest.raises(CheckFailed, match=message):
        checks_03.check_class_token_mask(fn)


CLS_WRONG = {
    "always first": (lambda p, c, pos: add_cls(p, c, "first"), "wrong end|index"),
    "no pair": (lambda p, c, pos: add_cls(p, c, pos)[0], "pair"),
    "wrong index": (lambda p, c, pos: (add_cls(p, c, pos)[0], 0), "index"),
    "zero class token": (lambda p, c, pos: add_cls(p, c * 0, pos), "differs"),
}


@pytest.mark.parametrize("name", sorted(CLS_WRONG))
def test_add_class_token_rejects(name):
    fn, message = CLS_WRONG[name]
    with pytest.raises(CheckFailed, match=message):
        checks_03.check_add_class_token(fn)


def _rotate_half(x, ang):
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat((x1 * ang.cos() - x2 * ang.sin(), x1 * ang.sin() + x2 * ang.cos()), -1)


ROPE_WRONG = {
    "rotate half": ((angles, _rotate_half), "rotate half"),
    "wrong sign": ((angles, lambda x, a: apply_rope(x, -a)), "wrong way"),
    "freq i/d": ((lambda n, d, t=10000.0: torch.arange(n).float()[:, None] / t ** (torch.arange(d // 2).float() / d), apply_rope), "-2i/d"),
    "positions from 1": ((lambda n, d, t=10000.0: angles(n, d, t) + angles(2, d, t)[1], apply_rope), "start at 1"),
    "rope over heads": ((angles, lambda x, a: apply_rope(x.transpose(-3, -2), a[: x.shape[-3]] if x.shape[-3] <= a.shape[0] else a).transpose(-3, -2) if x.shape[-3] == a.shape[0] else x * 1.0), "differs|wrong|depend"),
}


@pytest.mark.parametrize("name", sorted(ROPE_WRONG))
def test_rope_rejects(name):
    (angles_fn, apply_fn), message = ROPE_WRONG[name]
    with pytest.raises(CheckFailed, match=message):
        checks_03.check_rope(angles_fn, apply_fn)


SCHEDULE_WRONG = {
    "no cutoff": (lambda s, c, sch="linear": max(0.0, 1 - s / 15) if sch == "linear" else 1.0, "must be 0 from the cutoff"),
    "constant as linear": (lambda s, c, sch="linear": alpha(s, c, "linear"), "constant schedule keeps"),
    "starts at 0": (lambda s, c, sch="linear": 0.0 if s >= c else s / c, "starts at"),
    "tensor": (lambda s, c, sch="linear": torch.tensor(alpha(s, c, sch)), "Python float"),
}


@pytest.mark.parametrize("name", sorted(SCHEDULE_WRONG))
def test_schedule_rejects(name):
    fn, message = SCHEDULE_WRONG[name]
    with pytest.raises(CheckFailed, match=message):
        checks_03.check_soft_mask(fn, soft)


SOFT_WRONG = {
    "swapped": (lambda hard, a: soft(hard, 1 - a), "swapped"),
    "scaled causal": (lambda hard, a: a * hard.float(), "alpha above"),
}


@pytest.mark.parametrize("name", sorted(SOFT_WRONG))
def test_soft_mask_rejects(name):
    fn, message = SOFT_WRONG[name]
    with pytest.raises(CheckFailed, match=message):
        checks_03.check_soft_mask(alpha, fn)


def test_references_agree_with_the_independent_versions():
    x, w = torch.randn(3, 7), torch.randn(7)
    assert torch.allclose(rms_ref.rms_norm(x, w), rms_norm(x, w), atol=1e-6)
    assert swiglu_ref.swiglu_hidden_dim(192) == 512 and swiglu_ref.swiglu_hidden_dim(1024) == 2816
    a = rope_ref.rope_angles(5, 8)
    assert torch.allclose(a, angles(5, 8))
    q = torch.randn(2, 5, 8)
    assert torch.allclose(rope_ref.apply_rope(q, a), apply_rope(q, a), atol=1e-6)
    assert torch.equal(masks_ref.class_token_mask(4, "modified", "first"), mask(4, "modified", "first"))
    assert schedule_ref.soft_mask_alpha(3, 10, "linear") == pytest.approx(0.7)
