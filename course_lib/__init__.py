"""course_lib: the library a learner builds while rebuilding seven papers in PyTorch.

It grows chapter by chapter, one module per concern (``attention``, ``longctx``, ...);
``grading``, ``assets``, ``links`` and ``authoring`` are the course's own tooling.
"""

__version__ = "0.1.0"
