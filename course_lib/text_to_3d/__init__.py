"""The text-to-3D pipelines of chapters 05-07, each in a package of its own, built on the technique
packages (:mod:`course_lib.splatting`, :mod:`course_lib.diffusion`, :mod:`course_lib.geometry`)."""
