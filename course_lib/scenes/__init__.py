"""Procedural worlds with exact ground truth: scenes, their ray caster and panorama renders (chapters 05-07).

Stands in for the photographs and pretrained-model outputs of the 3D papers at reduced scale:
any camera, any panorama, with true RGB, depth, semantics and instances. This is the answer
sheet: the priors train on it and the chapters measure against it, but method code
(splatting, diffusion, fields, the chapter pipelines) never imports it. Cameras and panorama
geometry live in :mod:`course_lib.geometry`.
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
from course_lib.scenes.panorama import render_panorama
from course_lib.scenes.primitives import Box, Ellipsoid, GroundPlane
from course_lib.scenes.raycast import cast_rays, render_many, render_view
from course_lib.scenes.scene import Scene
from course_lib.scenes.semantics import CLASSES, PALETTE, class_id, colorize_semantics
from course_lib.scenes.vocabulary import VOCABULARY, UnknownPromptWordError, check_prompt, parse_prompt

__all__ = [
    "Box", "CLASSES", "Ellipsoid", "GroundPlane", "PALETTE", "Scene", "UnknownPromptWordError", "VOCABULARY",
    "cast_rays", "check_prompt", "class_id", "colorize_semantics", "make_object", "object_scene", "outdoor_scene",
    "parse_prompt", "random_prompt", "render_many", "render_panorama", "render_view", "room_scene", "scene_from_prompt",
    "street_scene", "surroundings_scene",
]
