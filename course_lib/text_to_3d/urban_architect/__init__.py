"""Urban Architect (Lu et al., arXiv 2404.06780), chapter 07: a street distilled from a 3D layout into a hash-grid field.

- :mod:`~.layout`: the layout as oriented boxes, its semantic / depth / palette renders, layout-constrained sampling.
- :mod:`~.guidance`: the prior with classifier-free guidance, the (LG-)VSD gradient, the peft particle estimator and its loss.
- :mod:`~.street`: the street field (scalable cells or one fixed grid, the sky), rendering through the layout, fitting views.
- :mod:`~.distill`: LG-VSD, VSD and SDS from an initialised field at equal budget.
- :mod:`~.full_scale`: SD 2.1-base + ControlNet + the LoRA estimator on the meta device; the GPU / hub / checkpoint check.

The test bench (streets, the drive regime, scores, verdicts) is :mod:`course_lib.benchmarks.urban_architect`.
"""
