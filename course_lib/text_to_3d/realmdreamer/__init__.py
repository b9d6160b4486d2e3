"""RealmDreamer (Shriram et al., 2024, arXiv 2404.07199), chapter 06: text-driven 3D scenes by inpainting and
depth distillation into Gaussians.

- :mod:`~course_lib.text_to_3d.realmdreamer.lift`: least-squares depth alignment, lifting pixels to points and Gaussians.
- :mod:`~course_lib.text_to_3d.realmdreamer.occlusion`: the occupancy grid and the occlusion volume (line march).
- :mod:`~course_lib.text_to_3d.realmdreamer.render`: rendering with the occlusion volume's share per pixel.
- :mod:`~course_lib.text_to_3d.realmdreamer.pipeline`: the initialisation (points, outpainting, occlusion volume).
- :mod:`~course_lib.text_to_3d.realmdreamer.losses`: inpainting distillation (Eq. 5) and depth distillation (Eq. 6).
- :mod:`~course_lib.text_to_3d.realmdreamer.optimise`: distillation runs (inpainting or the SDS baseline) and refinement.
- :mod:`~course_lib.text_to_3d.realmdreamer.stand_ins`: the shipped priors in the shapes the pipeline calls.
- :mod:`~course_lib.text_to_3d.realmdreamer.full_scale`: the paper-sized configuration.
"""
