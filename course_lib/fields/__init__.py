"""Neural fields for chapter 07 (Urban Architect): hash grids, volume rendering, the scalable street field.

- :mod:`~course_lib.fields.hash_grid`: the multi-resolution hash encoding of Instant-NGP (levels, the spatial
  hash with its primes, trilinear interpolation); :func:`level_corners` is one level's work.
- :mod:`~course_lib.fields.dense_grid`: the dense-grid reference the hash encoding is checked against.
- :mod:`~course_lib.fields.volume_rendering`: sample placement and the NeRF quadrature (weights, colour,
  expected depth, opacity).
- :mod:`~course_lib.fields.radiance_field`: a hash grid + tiny MLP head giving density and colour.
- :mod:`~course_lib.fields.scalable`: Urban Architect's per-cell fields, created lazily as the camera drives.
- :mod:`~course_lib.fields.objects`: per-object fields in box-local coordinates; ray-box intersection.
- :mod:`~course_lib.fields.sky`: the sky as a function of the ray direction.
- :mod:`~course_lib.fields.street`: background + objects + sky, composed and rendered.

Nothing here knows a procedural scene (:mod:`course_lib.scenes`) or a shipped prior (:mod:`course_lib.priors`).
"""

from course_lib.fields.dense_grid import DenseGrid, dense_vertex_index
from course_lib.fields.hash_grid import (
    PRIMES,
    HashGrid,
    cell_corners,
    interpolate,
    level_collisions,
    level_corners,
    level_resolutions,
    level_table_rows,
    spatial_hash,
    vertex_index,
)
from course_lib.fields.objects import Box, ObjectField
from course_lib.fields.radiance_field import RadianceField
from course_lib.fields.scalable import ScalableField
from course_lib.fields.sky import SkyField
from course_lib.fields.street import StreetField, StreetRender
from course_lib.fields.volume_rendering import RenderResult, render_weights, sample_along_rays, volume_render

__all__ = [
    "PRIMES", "Box", "DenseGrid", "HashGrid", "ObjectField", "RadianceField", "RenderResult", "ScalableField", "SkyField",
    "StreetField", "StreetRender", "cell_corners", "dense_vertex_index", "interpolate", "level_collisions", "level_corners",
    "level_resolutions", "level_table_rows", "render_weights", "sample_along_rays", "spatial_hash", "vertex_index",
    "volume_render",
]
