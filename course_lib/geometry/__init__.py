"""Camera geometry that method code may use (chapters 05-07): pinhole cameras and trajectories,
equirectangular panoramas, icosahedron tangent images.

Nothing here knows a procedural scene: the ground truth lives in :mod:`course_lib.scenes`, which
method packages (splatting, diffusion, fields, the chapter pipelines) never import.
"""

from course_lib.geometry.cameras import Camera, backproject, drive_cameras, intrinsics, look_at, look_at_camera, orbit_cameras
from course_lib.geometry.equirect import direction_to_equirect, equirect_directions, panorama_points, sample_equirect
from course_lib.geometry.icosahedron import (
    equirect_to_tangent,
    icosahedron_face_centers,
    icosahedron_vertices,
    sample_tangent_tiles,
    tangent_cameras,
    tangent_to_equirect,
)

__all__ = [
    "Camera", "backproject", "direction_to_equirect", "drive_cameras", "equirect_directions", "equirect_to_tangent",
    "icosahedron_face_centers", "icosahedron_vertices", "intrinsics", "look_at", "look_at_camera", "orbit_cameras",
    "panorama_points", "sample_equirect", "sample_tangent_tiles", "tangent_cameras", "tangent_to_equirect",
]
