"""The procedural shapes world: seeded scenes, frames and captions for training and scoring."""

from .caption import describe, label
from .clip import WorldClip, make_clip
from .heldout import HELD_OUT
from .palette import BACKGROUND_COLORS, OBJECT_COLORS
from .render import object_geometry, render_scene
from .scene import CAMERAS, MOTIONS, SHAPES, SIZES, Camera, Scene, SceneObject
from .spec import ObjectSpec, SceneSpec, occlusion_fits, realize

__all__ = [
    "BACKGROUND_COLORS",
    "CAMERAS",
    "HELD_OUT",
    "MOTIONS",
    "OBJECT_COLORS",
    "SHAPES",
    "SIZES",
    "Camera",
    "ObjectSpec",
    "Scene",
    "SceneObject",
    "SceneSpec",
    "WorldClip",
    "describe",
    "label",
    "make_clip",
    "object_geometry",
    "occlusion_fits",
    "realize",
    "render_scene",
]
