"""Procedural worlds with exact ground truth: scenes, ray caster, cameras, panoramas (chapters 05-07).

Stands in for the photographs and pretrained-model outputs of the 3D papers at reduced scale:
any camera, any panorama, with true RGB, depth, semantics and instances.
"""

from course_lib.scenes.builders import (
    make_object,
    object_scene,
    outdoor_scene,
    random_prompt,
    room_scene,
    scene_from_prompt,
    street_scene,
    surroundings_scene,
)
from course_lib.scenes.cameras import Camera, backproject, drive_cameras, intrinsics, look_at, look_at_camera, orbit_cameras
from course_lib.scenes.equirect import direction_to_equirect, equirect_directions, panorama_points, render_panorama, sample_equirect
from course_lib.scenes.icosahedron import (
    equirect_to_tangent,
    icosahedron_face_centers,
    icosahedron_vertices,
    tangent_cameras,
    tangent_to_equirect,
)
from course_lib.scenes.primitives import Box, Ellipsoid, GroundPlane
from course_lib.scenes.raycast import cast_rays, render_many, render_view
from course_lib.scenes.scene import Scene
from course_lib.scenes.semantics import CLASSES, PALETTE, class_id, colorize_semantics
from course_lib.scenes.vocabulary import VOCABULARY, UnknownPromptWordError, check_prompt, parse_prompt

__all__ = [
    "Box", "CLASSES", "Camera", "backproject", "Ellipsoid", "GroundPlane", "PALETTE", "Scene", "UnknownPromptWordError", "VOCABULARY",
    "cast_rays", "check_prompt", "class_id", "colorize_semantics", "direction_to_equirect", "drive_cameras",
    "equirect_directions", "equirect_to_tangent", "icosahedron_face_centers", "icosahedron_vertices", "intrinsics", "look_at",
    "look_at_camera", "make_object", "object_scene", "orbit_cameras", "outdoor_scene", "panorama_points", "parse_prompt",
    "random_prompt", "render_many", "render_view", "render_panorama", "room_scene", "sample_equirect",
    "scene_from_prompt", "street_scene", "surroundings_scene", "tangent_cameras", "tangent_to_equirect",
]
