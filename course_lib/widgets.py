"""Interactive figures that degrade to a static figure where no widget frontend runs (chapter 01 on).

``explore(draw, segment=(0, 63))`` shows a slider bound to ``draw`` in JupyterLab or Colab.
With ``COURSE_WIDGETS=static`` (set by the test suite and CI, where nothing renders widgets)
or without ipywidgets it calls ``draw`` once with the default values and the figure is an
ordinary static output.
"""

from __future__ import annotations

import os
from typing import Any, Callable


def widgets_enabled() -> bool:
    """False when ``COURSE_WIDGETS=static`` or ipywidgets is missing."""
    if os.environ.get("COURSE_WIDGETS", "").strip().lower() == "static":
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def explore(draw: Callable[..., None], defaults: dict[str, Any] | None = None, **controls: Any) -> Any:
    """Bind ``draw(**values)`` to controls: an integer pair ``(lo, hi)`` becomes a slider, a list a
    dropdown. ``defaults`` gives the values drawn first, and in the static fallback (else each
    control's first value)."""
    defaults = dict(defaults or {})
    for name, control in controls.items():
        if not isinstance(control, (tuple, list)) or not control:
            raise TypeError(f"control {name!r}: give an (lo, hi) pair of ints for a slider or a list for a dropdown, got {control!r}")
        defaults.setdefault(name, control[0])
    if not widgets_enabled():
        draw(**defaults)
        return None
    import ipywidgets
    from IPython.display import display

    widgets = {}
    for name, control in controls.items():
        if isinstance(control, tuple):
            widgets[name] = ipywidgets.IntSlider(min=control[0], max=control[1], value=defaults[name], description=name)
        else:
            widgets[name] = ipywidgets.Dropdown(options=control, value=defaults[name], description=name)
    widget = ipywidgets.interactive(draw, **widgets)  # draws once, with the defaults
    display(widget)
    return widget
