"""Checkers of chapter 02 (RULER). Each compares the learner's function with course_lib's
reference on generated inputs and edge cases and, when it is wrong, says how."""

from __future__ import annotations

import math
import random
from functools import partial

from course_lib.grading.checking import CheckFailed, call, require_passed, run
from course_lib.longctx.ruler import scoring as ref_scoring
from course_lib.longctx.ruler import tasks as ref_tasks
from course_lib.longctx.ruler.models import trace_variables as ref_trace

# every exercise of the chapter (id -> title): its last check prints which are still open
EXERCISES = {
    "02-1": "needle insertion at a depth",
    "02-2": "length control by binary search",
    "02-3": "multi-hop variable tracking",
    "02-4": "Zeta-distributed word counts (FWE)",
    "02-5": "string_match_all",
    "02-6": "effective length and weighted averages",
}

# checks_NN.require("NN-1", ..., what=...): an experiment on the learner's code stops while one is open
require = partial(require_passed, EXERCISES)


def _expect_equal(actual, expected, what: str, wrong: dict | None = None) -> None:
    if actual == expected:
        return
    for explanation, value in (wrong or {}).items():
        if actual == value:
            raise CheckFailed(f"{what} is wrong: {explanation}")
    raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def _expect_number(actual, expected: float, what: str, wrong: dict | None = None, tol: float = 1e-6) -> None:
    if not isinstance(actual, (int, float)) or isinstance(actual, bool):
        raise CheckFailed(f"{what} should be a number, got {type(actual).__name__}")
    if math.isclose(actual, expected, rel_tol=tol, abs_tol=tol):
        return
    for explanation, value in (wrong or {}).items():
        if math.isclose(actual, value, rel_tol=tol, abs_tol=tol):
            raise CheckFailed(f"{what} is wrong: {explanation}")
    raise CheckFailed(f"{what}: expected {expected:.6g}, got {actual:.6g}")


def check_insert_needles(fn) -> None:
    """02-1: ``fn(pieces, needles, depths)`` inserts needle j before piece int(len(pieces) * depth / 100)."""

    def body() -> None:
        rng = random.Random(0)
        cases = [(["s1", "s2", "s3", "s4"], ["N"], [50]), (["a", "b", "c"], ["X", "Y"], [100, 0]),
                 (["a", "b", "c", "d", "e"], ["X", "Y", "Z"], [40, 40, 97]), ([], ["X"], [38])]
        for _ in range(4):
            n = rng.randint(3, 30)
            k = rng.randint(1, 4)
            cases.append(([f"p{i}" for i in range(n)], [f"N{j}" for j in range(k)], rng.sample(ref_tasks.DEPTHS, k)))
        for pieces, needles, depths in cases:
            original = list(pieces)
            out = call(fn, list(pieces), list(needles), list(depths), what=f"insert_needles({pieces}, {needles}, {depths})")
            if not isinstance(out, list):
                raise CheckFailed(f"insert_needles must return a list of strings, got {type(out).__name__}")
            expected = ref_tasks.insert_at_depths(original, needles, depths)
            wrong = {
                "the positions are not sorted: sort int(len(pieces) * d / 100) and insert the needles in their order there":
                    _unsorted(original, needles, depths),
                "insert the needle before the piece at the position (pieces[:p] + [needle] + pieces[p:]), not after it":
                    _after(original, needles, depths),
            }
            _expect_equal(out, expected, f"insert_needles({original}, {needles}, depths={depths})", wrong)

    run("02-1", "needle insertion at a depth", body)


def _unsorted(pieces, needles, depths):
    out = list(pieces)
    for needle, d in sorted(zip(needles, depths), key=lambda x: -int(len(pieces) * x[1] / 100)):
        out.insert(int(len(pieces) * d / 100), needle)
    return out if sorted(depths) != list(depths) else None


def _after(pieces, needles, depths):
    positions = sorted(min(len(pieces), int(len(pieces) * d / 100) + 1) for d in depths)
    out, start = [], 0
    for position, needle in zip(positions, needles):
        out.extend(pieces[start:position])
        out.append(needle)
        start = position
    return out + pieces[start:]


def check_haystack_size(fn) -> None:
    """02-2: ``fn(fits)``: the largest size >= 0 with fits(size) true (None if fits(0) is false)."""

    def body() -> None:
        calls = []
        for limit in (0, 1, 7, 100, 1000, 12345, 99_999):
            def fits(n, limit=limit):
                calls.append(n)
                if n < 0:
                    raise CheckFailed("haystack_size asked about a negative size: sizes start at 0")
                return n <= limit
            calls.clear()
            out = call(fn, fits, what=f"haystack_size(fits = size <= {limit})")
            _expect_equal(out, limit, f"the largest fitting size when sizes up to {limit} fit", {
                "off by one: the answer is the last size that fits, not the first that does not": limit + 1,
                "off by one: the last size that fits is the answer itself": limit - 1,
            })
            if len(calls) > 2 * math.log2(limit + 2) + 6:
                raise CheckFailed(f"haystack_size called fits {len(calls)} times for a limit of {limit}: "
                                  "search by doubling then halving (O(log n) calls), not one size at a time")
        out = call(fn, lambda n: False, what="haystack_size(fits = never)")
        if out is not None:
            raise CheckFailed(f"when even an empty haystack does not fit, return None (got {out!r})")

    run("02-2", "length control by binary search", body)


def check_trace_variables(fn) -> None:
    """02-3: ``fn(text, value)``: every variable that holds ``value`` through the chain(s)."""

    def body() -> None:
        texts = []
        for seed in range(3):
            plan = ref_tasks.vt_plan(random.Random(seed), {"num_chains": 2, "num_hops": 4})
            user, _, _ = ref_tasks.vt_render(plan, {"num_chains": 2, "num_hops": 4}, 120)
            value = plan["chains"][0][1][0].split("= ")[1]
            texts.append((user.split("\nQuestion:")[0], value))
        texts.append(("VAR QQQQQ = VAR PPPPP \nVAR PPPPP = 55555\nVAR RRRRR = 66666\nVAR SSSSS = VAR RRRRR ", "55555"))
        texts.append(("VAR CCCCC = VAR BBBBB \nVAR BBBBB = VAR AAAAA \nVAR AAAAA = 11111\nVAR DDDDD = 22222", "11111"))
        texts.append(("VAR AAAAA = 12345\nVAR BBBBB = VAR AAAAA \nVAR CCCCC = VAR BBBBB \nVAR DDDDD = 123456", "12345"))
        for text, value in texts:
            out = call(fn, text, value, what="trace_variables")
            if not isinstance(out, (list, tuple)):
                raise CheckFailed(f"trace_variables must return a list of names, got {type(out).__name__}")
            expected = ref_trace(text, value)
            if sorted(out) == sorted(expected):
                continue
            direct = [n for n in expected if f"VAR {n} = {value}" in text]
            if sorted(out) == sorted(direct):
                raise CheckFailed("only the variables assigned the value directly are found: follow the chain, "
                                  "VAR B = VAR A means B holds whatever A holds (repeat until nothing changes)")
            if set(expected) < set(out):
                raise CheckFailed(f"{sorted(set(out) - set(expected))} do not hold {value}: match the whole value "
                                  "(12345 is not 123456) and follow only chains that start at it")
            if set(out) < set(expected):
                raise CheckFailed(f"{sorted(set(expected) - set(out))} are missing: a chain may be written in any order, "
                                  "so keep following links until no new variable is found")
            raise CheckFailed(f"expected {sorted(expected)}, got {sorted(out)}")

    run("02-3", "multi-hop variable tracking", body)


def check_zeta_counts(fn) -> None:
    """02-4: ``fn(num_words, vocab_size, alpha)``: floor(n k^-alpha / zeta(alpha)) for k = 1..V."""

    def body() -> None:
        for n, v, alpha in [(1000, 5, 2.0), (5000, 40, 2.0), (300, 8, 1.5), (12345, 100, 3.0)]:
            out = call(fn, n, v, alpha, what=f"zeta_counts({n}, {v}, {alpha})")
            if not isinstance(out, (list, tuple)) or len(out) != v:
                raise CheckFailed(f"zeta_counts must return a list of {v} counts (one per rank), got {out!r}"[:300])
            expected = ref_tasks.fwe_counts(n, v, alpha)
            z = ref_tasks.zeta(alpha)
            wrong = {
                "the counts are not divided by zeta(alpha): the probabilities k^-alpha / zeta(alpha) must sum to 1":
                    [int(n * k**-alpha) for k in range(1, v + 1)],
                "the ranks start at k = 1, not 0 (and the exponent is -alpha)": [int(n * (k + 1) ** -alpha / z) for k in range(1, v + 1)],
                "normalised over the V ranks only: RULER divides by zeta(alpha), the sum over all ranks":
                    [int(n * k**-alpha / sum(j**-alpha for j in range(1, v + 1))) for k in range(1, v + 1)],
                "the counts must be whole numbers, rounded down (int)": [round(n * k**-alpha / z) for k in range(1, v + 1)],
            }
            _expect_equal(list(out), expected, f"zeta_counts({n}, {v}, alpha={alpha})", wrong)

    run("02-4", "Zeta-distributed word counts (FWE)", body)


def check_string_match_all(fn) -> None:
    """02-5: ``fn(predictions, references)``: mean fraction of references found, x 100."""

    def body() -> None:
        cases = [
            (["The numbers are 1234567 and 7654321."], [["1234567", "7654321"]]),
            (["only 1234567"], [["1234567", "7654321"]]),
            (["ABCDE FGHIJ", "nothing", "klmno"], [["abcde", "fghij"], ["x"], ["KLMNO", "pqrst"]]),
            (["the answer: 12"], [["123"]]),
        ]
        for preds, refs in cases:
            out = call(fn, list(preds), [list(r) for r in refs], what="string_match_all")
            expected = ref_scoring.string_match_all(preds, refs)
            wrong = {
                "a sample scores the fraction of its references found, not 1 for any of them (that is string_match_part)":
                    ref_scoring.string_match_part(preds, refs),
                "the match ignores case: compare r.lower() in pred.lower()":
                    100 * sum(sum(r in p for r in rs) / len(rs) for p, rs in zip(preds, refs)) / len(preds),
                "the score is a percentage: multiply the mean by 100": expected / 100,
                "a reference counts when it occurs anywhere in the prediction (substring), not only as the whole prediction":
                    100 * sum(sum(r.lower() == p.lower() for r in rs) / len(rs) for p, rs in zip(preds, refs)) / len(preds),
                "a sample scores 1 only when all its references are found: RULER gives the fraction found":
                    100 * sum(all(r.lower() in p.lower() for r in rs) for p, rs in zip(preds, refs)) / len(preds),
            }
            _expect_number(out, expected, f"string_match_all on {preds}", wrong)

    run("02-5", "string_match_all", body)


def check_effective_length(effective_length, weighted_average) -> None:
    """02-6: effective length against a threshold, wAvg inc/dec (the paper's GPT-4 row and more)."""

    def body() -> None:
        gpt4 = {4096: 96.6, 8192: 96.3, 16384: 95.2, 32768: 93.2, 65536: 87.0, 131072: 81.2}
        rows = [gpt4, {4096: 84.0, 8192: 90.0}, {1: 90.0, 2: 80.0, 3: 90.0}, {512: 85.6, 1024: 85.5}, {2048: 99.0, 512: 90.0, 1024: 70.0}]
        for scores in rows:
            out = call(effective_length, dict(scores), 85.6, what="effective_length")
            expected = ref_scoring.effective_length(scores, 85.6)
            passing = [n for n in sorted(scores) if scores[n] >= 85.6]
            _expect_equal(out, expected, f"effective_length({scores}, 85.6)", {
                "it ends at the first length below the threshold: later lengths that pass again do not count":
                    passing[-1] if passing else None,
                "a score equal to the threshold reaches it (>=), as Llama-2-7B's own 85.6 at 4K does":
                    ref_scoring.effective_length(scores, 85.6 + 1e-9),
            })
            for order in ("inc", "dec"):
                got = call(weighted_average, dict(scores), order, what=f"weighted_average(order={order!r})")
                want = ref_scoring.weighted_average(scores, order)
                flipped = ref_scoring.weighted_average(scores, "dec" if order == "inc" else "inc")
                mean = sum(scores.values()) / len(scores)
                values = [scores[n] for n in scores]  # in the dict's order, not sorted by length
                w = list(range(1, len(values) + 1))
                unsorted = sum(a * b for a, b in zip(w if order == "inc" else w[::-1], values)) / sum(w)
                _expect_number(got, want, f"weighted_average({scores}, {order!r})", {
                    f"'{order}' weights are swapped: inc gives weight i to the i-th length (longest weighs most)": flipped,
                    "this is the plain mean: weigh the lengths 1..n (inc) or n..1 (dec)": mean if len(set(values)) > 1 else float("nan"),
                    "sort the lengths before weighing them": unsorted if unsorted != want else float("nan"),
                })
        if round(call(weighted_average, gpt4, "inc", what="weighted_average"), 1) != 89.0:
            raise CheckFailed("the GPT-4 row must give wAvg(inc) = 89.0")

    run("02-6", "effective length and weighted averages", body, chapter_exercises=EXERCISES)
