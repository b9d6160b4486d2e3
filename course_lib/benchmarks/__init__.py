"""Measured claims of the 3D core (chapters 05-07): rasterizer speed, a worked multi-view fit, ray-casting throughput.

Unlike the method packages, benchmarks read the procedural ground truth (:mod:`course_lib.scenes`):
they make the data and score the result against the true scene.
"""
