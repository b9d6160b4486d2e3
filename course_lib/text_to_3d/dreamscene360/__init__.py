"""DreamScene360 (Zhou et al., 2024, arXiv 2404.06903): text -> 360° panorama -> aligned geometry -> Gaussian splats (chapter 05).

- :mod:`~.panorama`: DDIM sampling of panoramas with a wrap-around MultiDiffusion step, the seam error.
- :mod:`~.refine`: the self-refinement loop (draft, score, keep the best, revise) with a judge standing in for GPT-4V.
- :mod:`~.tiles`: the 20 tangent tiles' monocular distances (sign, scale, sky mask).
- :mod:`~.distance_field`, :mod:`~.alignment`: the global distance field and Eq. 2's alignment in two phases.
- :mod:`~.lift`: aligned tiles -> one distance panorama -> 3D Gaussians (sky on a far dome).
- :mod:`~.virtual_views`, :mod:`~.optimise`: virtual cameras, L_geo and L_sem, the fit with branches.
- :mod:`~.pipeline`: all of the lift in one call, for any panorama.
- :mod:`~.metrics`, :mod:`~.verdicts`: how the chapter measures (against a truth the caller renders) and judges with noise.
- :mod:`~.full_scale`: the paper's models on the meta device, and what running them needs.
"""
