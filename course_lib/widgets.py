"""Interactive figures that degrade to a static figure where no widget frontend runs (chapter 01 on).

``explore(draw, segment=(0, 63))`` shows sliders bound to ``draw`` in JupyterLab or Colab.
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
    """Bind ``draw(**values)`` to ipywidgets controls (``ipywidgets.interactive`` abbreviations:
    ``(lo, hi)`` tuples become sliders, lists become dropdowns). ``defaults`` gives the values
    drawn first and in the static fallback (else the first value of each control)."""
    defaults = dict(defaults or {})
    for name, control in controls.items():
        if name not in defaults:
            defaults[name] = control[0] if isinstance(control, (tuple, list)) else control
    if not widgets_enabled():
        draw(**defaults)
        return None
    import ipywidgets
    from IPython.display import display

    widget = ipywidgets.interactive(draw, **controls)
    for child in widget.children:
        name = getattr(child, "description", None)
        if name in defaults and hasattr(child, "value"):
            child.value = defaults[name]
    display(widget)
    return widget
