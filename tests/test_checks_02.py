"""Chapter 02 checkers accept right answers (the reference's and other valid ones) and reject
plausible wrong implementations with a message that says what is wrong."""

from __future__ import annotations

import math
import re

import pytest

from course_lib.grading import checks_02
from course_lib.grading.checking import CheckFailed


# ---------------------------------------------------------------- 02-1 needle insertion
def insert_ok(pieces, needles, depths):
    positions = sorted(int(len(pieces) * d / 100) for d in depths)
    out = list(pieces)
    for offset, (p, n) in enumerate(zip(positions, needles)):
        out.insert(p + offset, n)
    return out


def insert_unsorted(pieces, needles, depths):
    out = list(pieces)
    for n, d in zip(needles, depths):
        out.insert(int(len(pieces) * d / 100), n)
    return out


def insert_after(pieces, needles, depths):
    out = list(pieces)
    for offset, (p, n) in enumerate(zip(sorted(int(len(pieces) * d / 100) for d in depths), needles)):
        out.insert(min(len(out), p + offset + 1), n)
    return out


def insert_drops_needles(pieces, needles, depths):
    return insert_ok(pieces, needles[:1], depths[:1])


def test_insert_needles():
    checks_02.check_insert_needles(insert_ok)
    for wrong, message in [(insert_unsorted, "wrong|expected"), (insert_after, "before the piece|expected"),
                           (insert_drops_needles, "expected")]:
        with pytest.raises(CheckFailed, match=message):
            checks_02.check_insert_needles(wrong)


# ---------------------------------------------------------------- 02-2 binary search
def size_ok(fits):
    if not fits(0):
        return None
    low, high = 0, 1
    while fits(high):
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


def size_first_failing(fits):
    s = size_ok(fits)
    return None if s is None else s + 1


def size_linear(fits):
    n = 0
    while fits(n + 1):
        n += 1
    return n if fits(0) else None


def size_never_none(fits):
    return size_ok(fits) or 0


def test_haystack_size():
    checks_02.check_haystack_size(size_ok)
    for wrong, message in [(size_first_failing, "off by one"), (size_linear, "O\\(log n\\)"), (size_never_none, "return None")]:
        with pytest.raises(CheckFailed, match=message):
            checks_02.check_haystack_size(wrong)


# ---------------------------------------------------------------- 02-3 variable tracking
def trace_ok(text, value):
    assigned = {a: b for a, b in re.findall(r"VAR (\w+) = VAR (\w+)", text)}
    names = {a for a, v in re.findall(r"VAR (\w+) = (\d+)\b", text) if v == value}
    while True:
        new = {a for a, b in assigned.items() if b in names} - names
        if not new:
            return sorted(names)
        names |= new


def trace_direct_only(text, value):
    return [a for a, v in re.findall(r"VAR (\w+) = (\d+)", text) if v == value]


def trace_prefix_value(text, value):
    assigned = {a: b for a, b in re.findall(r"VAR (\w+) = VAR (\w+)", text)}
    names = {a for a, v in re.findall(r"VAR (\w+) = (\d+)", text) if v.startswith(value)}
    while {a for a, b in assigned.items() if b in names} - names:
        names |= {a for a, b in assigned.items() if b in names}
    return sorted(names)


def trace_single_pass(text, value):
    names = trace_direct_only(text, value)
    for a, b in re.findall(r"VAR (\w+) = VAR (\w+)", text):
        if b in names:
            names.append(a)
    return names


def test_trace_variables():
    checks_02.check_trace_variables(trace_ok)
    for wrong, message in [(trace_direct_only, "follow the chain"), (trace_prefix_value, "whole value"),
                           (trace_single_pass, "any order")]:
        with pytest.raises(CheckFailed, match=message):
            checks_02.check_trace_variables(wrong)


# ---------------------------------------------------------------- 02-4 Zeta counts
def _zeta(alpha):
    return sum(k**-alpha for k in range(1, 200_000)) + 200_000 ** (1 - alpha) / (alpha - 1)


def zeta_ok(n, v, alpha):
    z = _zeta(alpha)
    return [math.floor(n * k**-alpha / z) for k in range(1, v + 1)]


def zeta_unnormalised(n, v, alpha):
    return [int(n * k**-alpha) for k in range(1, v + 1)]


def zeta_rank_from_zero(n, v, alpha):
    z = _zeta(alpha)
    return [int(n * (k + 1) ** -alpha / z) for k in range(1, v + 1)]


def zeta_over_vocab(n, v, alpha):
    s = sum(k**-alpha for k in range(1, v + 1))
    return [int(n * k**-alpha / s) for k in range(1, v + 1)]


def zeta_rounded(n, v, alpha):
    z = _zeta(alpha)
    return [round(n * k**-alpha / z) for k in range(1, v + 1)]


def test_zeta_counts():
    checks_02.check_zeta_counts(zeta_ok)
    for wrong, message in [(zeta_unnormalised, "not divided by zeta"), (zeta_rank_from_zero, "ranks start at k = 1"),
                           (zeta_over_vocab, "V ranks only"), (zeta_rounded, "rounded down")]:
        with pytest.raises(CheckFailed, match=message):
            checks_02.check_zeta_counts(wrong)


# ---------------------------------------------------------------- 02-5 string_match_all
def match_ok(preds, refs):
    return 100 * sum(sum(r.lower() in p.lower() for r in rs) / len(rs) for p, rs in zip(preds, refs)) / len(preds)


def match_numpy_style(preds, refs):  # a valid alternative
    import numpy as np

    return float(np.mean([np.mean([r.lower() in p.lower() for r in rs]) for p, rs in zip(preds, refs)]) * 100)


def match_part(preds, refs):
    return 100 * sum(any(r.lower() in p.lower() for r in rs) for p, rs in zip(preds, refs)) / len(preds)


def match_case(preds, refs):
    return 100 * sum(sum(r in p for r in rs) / len(rs) for p, rs in zip(preds, refs)) / len(preds)


def match_fraction(preds, refs):
    return match_ok(preds, refs) / 100


def match_exact(preds, refs):
    return 100 * sum(sum(r.lower() == p.lower() for r in rs) / len(rs) for p, rs in zip(preds, refs)) / len(preds)


def test_string_match_all():
    checks_02.check_string_match_all(match_ok)
    checks_02.check_string_match_all(match_numpy_style)
    for wrong, message in [(match_part, "string_match_part"), (match_case, "ignores case"), (match_fraction, "percentage"),
                           (match_exact, "substring")]:
        with pytest.raises(CheckFailed, match=message):
            checks_02.check_string_match_all(wrong)


# ---------------------------------------------------------------- 02-6 effective length, wAvg
def eff_ok(scores, threshold):
    best = None
    for n in sorted(scores):
        if scores[n] < threshold:
            break
        best = n
    return best


def eff_any(scores, threshold):
    passing = [n for n in sorted(scores) if scores[n] >= threshold]
    return passing[-1] if passing else None


def eff_strict(scores, threshold):
    best = None
    for n in sorted(scores):
        if scores[n] <= threshold:
            break
        best = n
    return best


def wavg_ok(scores, order):
    values = [scores[n] for n in sorted(scores)]
    w = list(range(1, len(values) + 1))
    w = w if order == "inc" else w[::-1]
    return sum(a * b for a, b in zip(w, values)) / sum(w)


def wavg_swapped(scores, order):
    return wavg_ok(scores, "dec" if order == "inc" else "inc")


def wavg_mean(scores, order):
    return sum(scores.values()) / len(scores)


def test_effective_length_and_wavg():
    checks_02.check_effective_length(eff_ok, wavg_ok)
    for eff, wavg, message in [(eff_any, wavg_ok, "first length below"), (eff_strict, wavg_ok, ">="),
                               (eff_ok, wavg_swapped, "swapped"), (eff_ok, wavg_mean, "plain mean")]:
        with pytest.raises(CheckFailed, match=message):
            checks_02.check_effective_length(eff, wavg)


def test_course_lib_reference_is_refused_as_a_solution():
    from course_lib.longctx.ruler.scoring import string_match_all

    with pytest.raises(CheckFailed, match="imported rather than written"):
        checks_02.check_string_match_all(string_match_all)


def test_unimplemented_exercise_says_so():
    def todo(*args):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented yet"):
        checks_02.check_zeta_counts(todo)
