"""Authoring tools: generate learner notebooks from solutions, clean and execute notebooks.

See ``course_lib.authoring.generate`` (``python -m course_lib.authoring.generate``).
"""
