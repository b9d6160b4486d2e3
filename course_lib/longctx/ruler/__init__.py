"""RULER (Hsieh et al., 2024, arXiv 2404.06654): 13 synthetic long-context tasks, their scoring
and an evaluation harness (chapter 02)."""
