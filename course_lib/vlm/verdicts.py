"""Chapter 04's claims judged on one split's scores, and chosen on the validation split (BRAVE 2404.07204).

:func:`judge` turns the five bridges' scores on one split into claims (``course_lib.claims``): each
comparison carries the 95% interval of the difference of two independent accuracies, and a claim
reproduces only when the whole interval is on the paper's side of its margin; the parameter count is a
design check (an exact count, no noise), and "degrades gracefully when an encoder is removed" (§5) is
judged per removed encoder against the best single-encoder bridge on the remaining encoders
(``REMOVAL_MARGIN``). :func:`choose_on_validation`
judges the test split with the claims that reproduced on the validation split: those are asserted,
the others are printed with their verdict. The course's premises (:func:`premises`: each encoder's
blind spot, the shape-only and colour-only bridges at chance on binding questions) check the
instrument, not the paper, and are never asserted on the test split. The blind spots
(:func:`asserted_premises`) are asserted on the validation split; the at-chance checks are printed
with their verdict on both splits (chapter 04, section 8.4, says why).
"""

from __future__ import annotations

from typing import Mapping

from course_lib.claims import FAILS, REPRODUCES, Claim, difference_interval, verdict_at_least, verdict_greater, verdict_not_worse
from course_lib.claims import choose_on_validation as choose_claims_on_validation
from course_lib.vlm.encoders import ENCODER_NAMES

MARGIN = 0.05  # "at least as good": not worse by more than 5 points (the whole interval)
CHANCE_MARGIN = 0.15  # "at chance": at most 15 points above it (the whole interval)
BLIND_LEAD = 0.25  # a blind spot: BRAVE ahead of the single bridge by more than 25 points (the whole interval)
PAIRS_LEAD = 0.10  # "clearly better on pairs": ahead by more than 10 points (the whole interval)
# "Degrades gracefully when an encoder is removed" (BRAVE §5): BRAVE with encoder k hidden at inference is at least
# as accurate on all questions as the best single-encoder bridge on the remaining encoders, not worse by more than
# this margin (the whole interval). It is the chapter's "at least as good" margin: the paper gives no threshold, and
# in this world each encoder is the only source of one attribute, so what a removal must keep is what the remaining
# encoders carry, not the full BRAVE's accuracy.
REMOVAL_MARGIN = MARGIN
CHANCE = {"shape": 1 / 4, "colour": 1 / 4, "position": 1 / 4, "count": 1 / 3, "compositional": 1 / 2, "binding": 1 / 2}
JUDGED_TYPES = ("shape", "colour", "position", "compositional")  # count: every encoder alone answers it (1.00)
PREMISES = ("blind spot", "at chance on binding")  # the claims the chapter's test of binding rests on
ASSERTED_PREMISES = ("blind spot",)  # asserted on validation; the at-chance checks are printed on both splits


def without(encoder: str) -> str:
    """The key of BRAVE's scores with ``encoder`` hidden at inference, in the ``scores`` :func:`judge` reads."""
    return f"BRAVE without {encoder}"


def _interval(d_lo_hi: tuple[float, float, float]) -> str:
    d, lo, hi = d_lo_hi
    return f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def judge(scores: Mapping[str, Mapping[str, float]], sizes: Mapping[str, int], params: Mapping[str, int]) -> list[Claim]:
    """The chapter's claims on one split.

    ``scores[bridge][metric]``: the bridges ``shape_cnn``, ``colour_net``, ``layout_vit``, ``ensemble``,
    ``BRAVE``; the metrics are the question types, ``all``, ``pairs`` and ``binding``. ``scores[without(k)]["all"]``
    (:func:`without`): BRAVE's accuracy on all questions with encoder ``k`` hidden at inference, for every encoder. ``sizes``: the
    number of questions behind each accuracy (``per_type``, ``all``, ``pairs``, ``binding``).
    ``params``: trainable parameters of ``BRAVE`` and ``ensemble``. Every returned claim is marked
    asserted; :func:`choose_on_validation` decides which the run asserts.
    """
    singles, brave = list(ENCODER_NAMES), scores["BRAVE"]
    n_type, n_bind = sizes["per_type"], sizes["binding"]
    diff = difference_interval
    claims = []
    for single in singles:
        blind = [t for t in JUDGED_TYPES + ("binding",) if scores[single][t] < CHANCE[t] + CHANCE_MARGIN
                 and verdict_greater(*diff(brave[t], n_type if t != "binding" else n_bind, scores[single][t],
                                           n_type if t != "binding" else n_bind)[1:], BLIND_LEAD) == REPRODUCES]
        claims.append(Claim(f"every single encoder has a blind spot that BRAVE covers (Table 2): {single}",
                            f"near chance where BRAVE is {BLIND_LEAD * 100:.0f}+ points ahead on {blind or 'no type'}",
                            REPRODUCES if blind else FAILS))
    for t in JUDGED_TYPES:
        best = max(singles, key=lambda s: scores[s][t])
        d = diff(brave[t], n_type, scores[best][t], n_type)
        claims.append(Claim(f"BRAVE at least as good as the best single encoder: {t}",
                            f"BRAVE {brave[t]:.2f} vs {best} {scores[best][t]:.2f}: {_interval(d)}", verdict_not_worse(d[1], d[2], MARGIN)))
    best = max(singles, key=lambda s: scores[s]["pairs"])
    d = diff(brave["pairs"], sizes["pairs"], scores[best]["pairs"], sizes["pairs"])
    claims.append(Claim("BRAVE clearly better on MMVP pairs (Table 3: 42.0 vs 27.3)",
                        f"BRAVE {brave['pairs']:.2f} vs {best} {scores[best]['pairs']:.2f} on {sizes['pairs']} pairs: {_interval(d)}",
                        verdict_greater(d[1], d[2], PAIRS_LEAD)))
    claims.append(Claim("(design check) MEQ-Former: fewer trainable parameters than an ensemble of Q-Formers (116M vs 605M)",
                        f"exact count, no noise: {params['BRAVE']:,d} vs {params['ensemble']:,d}",
                        verdict_at_least(params["ensemble"] - params["BRAVE"], 1)))
    d = diff(brave["all"], sizes["all"], scores["ensemble"]["all"], sizes["all"])
    claims.append(Claim("... and at least as accurate as the ensemble (Table 5: 145.2 vs 140.9 CIDEr)",
                        f"all questions: BRAVE {brave['all']:.3f} vs ensemble {scores['ensemble']['all']:.3f}: {_interval(d)}",
                        verdict_not_worse(d[1], d[2], MARGIN)))
    for removed in singles:
        rest = max((s for s in singles if s != removed), key=lambda s: scores[s]["all"])
        kept = scores[without(removed)]["all"]
        d = diff(kept, sizes["all"], scores[rest]["all"], sizes["all"])
        claims.append(Claim(f"BRAVE degrades gracefully when an encoder is removed at inference (§5): without {removed}",
                            f"all questions: BRAVE without {removed} {kept:.3f} (full BRAVE {brave['all']:.3f}) vs the best "
                            f"bridge on the remaining encoders, {rest} {scores[rest]['all']:.3f}: {_interval(d)}",
                            verdict_not_worse(d[1], d[2], REMOVAL_MARGIN)))
    for single in ("shape_cnn", "colour_net"):
        d = diff(scores[single]["binding"], n_bind, CHANCE["binding"], n_bind)
        claims.append(Claim(f"(course) {single} is at chance on binding (balanced compositional) questions",
                            f"{single} {scores[single]['binding']:.2f} vs chance 0.50 on {n_bind} questions: {_interval(d)}",
                            verdict_greater(-d[2], -d[1], -CHANCE_MARGIN)))
    best = max(singles, key=lambda s: scores[s]["binding"])
    for binder in ("BRAVE", "ensemble"):
        d = diff(scores[binder]["binding"], n_bind, scores[best]["binding"], n_bind)
        claims.append(Claim(f"{binder} binds colour to shape better than every single encoder (MMVP, Table 3)",
                            f"binding: {binder} {scores[binder]['binding']:.2f} vs {best} {scores[best]['binding']:.2f}: {_interval(d)}",
                            verdict_greater(d[1], d[2])))
    d = diff(brave["binding"], n_bind, scores["ensemble"]["binding"], n_bind)
    claims.append(Claim("BRAVE binds at least as well as the ensemble",
                        f"binding: BRAVE {brave['binding']:.2f} vs ensemble {scores['ensemble']['binding']:.2f}: {_interval(d)}",
                        verdict_not_worse(d[1], d[2], MARGIN)))
    return claims


def is_premise(claim: Claim) -> bool:
    """Whether ``claim`` is one of the course's premises (see :func:`premises`)."""
    return any(p in claim.paper for p in PREMISES)


def premises(claims: list[Claim]) -> list[Claim]:
    """The claims the chapter's experiment rests on (each encoder's blind spot; the shape-only and the
    colour-only bridge at chance on binding questions). None is asserted on the test split; the run asserts
    :func:`asserted_premises` on the validation split and prints the others."""
    return [c for c in claims if is_premise(c)]


def asserted_premises(claims: list[Claim]) -> list[Claim]:
    """The premises the run asserts on the validation split: each encoder's blind spot. The other premises
    (the shape-only and colour-only bridges at chance on binding questions) are printed with their verdict."""
    return [c for c in claims if any(p in c.paper for p in ASSERTED_PREMISES)]


def _premise_note(claim: Claim) -> str:
    if not is_premise(claim):
        return ""
    return " (asserted there)" if asserted_premises([claim]) else " (printed)"


def choose_on_validation(validation: list[Claim], test: list[Claim]) -> list[Claim]:
    """The test split's claims; a claim of the paper is asserted only if it reproduced on the validation split.

    The ``run`` column gives both splits: ``validation: ... -> verdict; test: ...``; the verdict is the test
    split's. A premise (:func:`premises`) is never asserted on the test split; the blind spots
    (:func:`asserted_premises`) are asserted on the validation split, the at-chance checks only printed.
    """
    return choose_claims_on_validation(validation, test, may_assert=lambda v: not is_premise(v), note=_premise_note)
