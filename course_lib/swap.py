"""Run course_lib's pipelines on the learner's own functions (chapters 02 and 04).

A chapter's experiment calls course_lib's code, which calls course_lib's functions. Inside
``with swapped(places, name=fn, ...)`` every place listed for ``name`` — a module attribute or
a dict entry — holds ``fn`` instead, so the experiment runs on the learner's implementation;
on leaving, course_lib's own functions are back.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

Places = dict[str, list[tuple[object, str]]]  # name -> [(module or dict, attribute or key)]


def _get(holder: object, key: str):
    return holder[key] if isinstance(holder, dict) else getattr(holder, key)


def _set(holder: object, key: str, value) -> None:
    if isinstance(holder, dict):
        holder[key] = value
    else:
        setattr(holder, key, value)


@contextmanager
def swapped(places: Places, **functions: Callable) -> Iterator[None]:
    """Within the block, each of ``functions`` replaces course_lib's function at its ``places``."""
    unknown = sorted(set(functions) - set(places))
    if unknown:
        raise ValueError(f"{unknown}: only {sorted(places)} can be swapped")
    saved = []
    try:
        for name, fn in functions.items():
            for holder, key in places[name]:
                saved.append((holder, key, _get(holder, key)))
                _set(holder, key, fn)
        yield
    finally:
        for holder, key, original in reversed(saved):
            _set(holder, key, original)
