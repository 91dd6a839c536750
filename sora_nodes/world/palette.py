"""The named colours of the shapes world.

The object colours are fixed sRGB values so that any scorer can recognise them; backgrounds are
chosen at least 90 away (RGB distance) from every object colour; their texture moves them by at most 17.
"""

OBJECT_COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 70),
    "blue": (40, 90, 220),
    "yellow": (235, 205, 40),
    "orange": (240, 130, 30),
    "purple": (140, 60, 190),
    "white": (240, 240, 240),
    "black": (25, 25, 25),
}

BACKGROUND_COLORS: dict[str, tuple[int, int, int]] = {
    "grey": (128, 128, 128),
    "slate": (85, 95, 110),
    "beige": (205, 190, 155),
    "sky blue": (150, 190, 225),
    "mint": (165, 215, 185),
    "lavender": (180, 165, 210),
}

# Half the contrast of the background's checker texture: visible enough to show pans and zooms.
BACKGROUND_TEXTURE = 10
