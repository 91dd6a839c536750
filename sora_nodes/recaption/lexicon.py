"""What the recaptioner knows: user words and phrases mapped onto the shapes world's canonical vocabulary.

Plain data, so adding a synonym is a one-line change. Keys are lower-case and in base form ("slide",
not "sliding"): the parser reduces each word to a key by stripping -s/-es/-ing/-ed before looking it
up, and matches the longest phrase first ("to the left of" before "to the left" before "left").
A key must appear in one table only; the parser checks this when it is imported.
"""

# Object colours: every value is a name in world.OBJECT_COLORS.
OBJECT_COLORS = {
    **dict.fromkeys(("red", "crimson", "scarlet", "cherry", "ruby", "vermilion", "maroon", "burgundy"), "red"),
    **dict.fromkeys(("reddish", "carmine", "cardinal"), "red"),
    **dict.fromkeys(("green", "emerald", "lime", "jade", "olive", "greenish", "chartreuse"), "green"),
    **dict.fromkeys(("blue", "navy", "azure", "cobalt", "sapphire", "bluish", "cerulean", "ultramarine"), "blue"),
    **dict.fromkeys(("yellow", "golden", "gold", "lemon", "mustard", "canary", "yellowish"), "yellow"),
    **dict.fromkeys(("orange", "tangerine", "amber", "apricot", "pumpkin", "orangish", "copper"), "orange"),
    **dict.fromkeys(("purple", "violet", "magenta", "plum", "indigo", "fuchsia", "amethyst", "grape"), "purple"),
    **dict.fromkeys(("white", "snow", "snowy", "pearl", "milky"), "white"),
    **dict.fromkeys(("black", "ebony", "jet", "onyx", "coal", "charcoal", "inky"), "black"),
}

# Background colours: every value is a name in world.BACKGROUND_COLORS.
BACKGROUND_COLORS = {
    **dict.fromkeys(("grey", "gray", "silver", "ash", "light grey", "light gray", "greyish", "grayish"), "grey"),
    **dict.fromkeys(("slate", "dark grey", "dark gray", "charcoal", "blue grey", "blue gray", "gunmetal"), "slate"),
    **dict.fromkeys(("beige", "tan", "sand", "sandy", "cream", "khaki", "ivory", "off white", "buff"), "beige"),
    **dict.fromkeys(("sky blue", "light blue", "pale blue", "baby blue", "skyblue", "powder blue"), "sky blue"),
    **dict.fromkeys(("mint", "mint green", "pale green", "light green", "seafoam", "sage"), "mint"),
    **dict.fromkeys(("lavender", "lilac", "mauve", "pale purple", "light purple", "periwinkle"), "lavender"),
}

# A colour asked for in the other role ("on a blue background", "a light blue ball"): the closest name
# the world has in that role, or None when it has nothing close (that attribute is then filled at random).
OBJECT_TO_BACKGROUND = {
    "red": None,
    "green": "mint",
    "blue": "sky blue",
    "yellow": "beige",
    "orange": "beige",
    "purple": "lavender",
    "white": "beige",
    "black": "slate",
}
BACKGROUND_TO_OBJECT = {
    "grey": None,
    "slate": None,
    "beige": "yellow",
    "sky blue": "blue",
    "mint": "green",
    "lavender": "purple",
}

SHAPES = {
    **dict.fromkeys(("circle", "ball", "disc", "disk", "dot", "ring", "sphere", "orb", "bubble"), "circle"),
    **dict.fromkeys(("coin", "marble", "balloon", "round", "circular", "oval", "ellipse"), "circle"),
    **dict.fromkeys(("square", "box", "block", "cube", "tile", "rectangle", "brick", "crate"), "square"),
    **dict.fromkeys(("rectangular", "cubic", "squarish"), "square"),
    **dict.fromkeys(("triangle", "pyramid", "wedge", "triangular", "cone", "arrowhead"), "triangle"),
}
# Nouns that make an object without naming its shape ("a red thing moving left"): the shape is filled.
GENERIC_NOUNS = ("thing", "object", "shape", "item", "blob", "something", "figure", "form", "piece", "sprite")

SIZES = {
    **dict.fromkeys(("small", "tiny", "little", "mini", "miniature", "petite", "smallish", "wee"), "small"),
    **dict.fromkeys(("medium", "mid", "midsize", "moderate", "average", "regular", "normal"), "medium"),
    **dict.fromkeys(("large", "big", "huge", "giant", "enormous", "massive", "gigantic", "jumbo"), "large"),
    **dict.fromkeys(("bigger", "larger"), "large"),
    "smaller": "small",
}

COUNTS = {"two": 2, "2": 2, "pair of": 2, "couple of": 2, "three": 3, "3": 3}

# Object motions: every value is a name in world.MOTIONS. Directions count as motion unless they
# sit in a POSITIONS phrase or follow a camera word.
MOTIONS = {
    # left / right / up / down
    **dict.fromkeys(("left", "leftward", "west", "westward", "to the left", "toward the left"), "left"),
    **dict.fromkeys(("from right to left", "right to left", "from the right"), "left"),
    **dict.fromkeys(("right", "rightward", "east", "eastward", "to the right", "toward the right"), "right"),
    **dict.fromkeys(("from left to right", "left to right", "from the left"), "right"),
    **dict.fromkeys(("up", "upward", "north", "northward", "skyward", "toward the top", "to the top"), "up"),
    **dict.fromkeys(("rise", "ascend", "climb", "soar", "levitate", "float up", "from bottom to top"), "up"),
    **dict.fromkeys(("bottom to top", "from the bottom", "scroll up"), "up"),
    **dict.fromkeys(("down", "downward", "south", "southward", "toward the bottom", "to the bottom"), "down"),
    **dict.fromkeys(("sink", "descend", "from top to bottom", "top to bottom", "from the top", "scroll down"), "down"),
    # the rest
    **dict.fromkeys(("static", "still", "motionless", "stationary", "rest", "sit", "stand", "immobile"), "static"),
    **dict.fromkeys(("unmoving", "idle", "frozen", "parked", "hover", "not move", "do not move"), "static"),
    **dict.fromkeys(("doesnt move", "dont move", "never move", "stay put", "locked off", "fixed", "steady"), "static"),
    **dict.fromkeys(("hold still", "stand still"), "static"),
    **dict.fromkeys(("bounce", "hop", "jump", "bob", "leap", "dribble", "bouncy", "up and down"), "bounce"),
    **dict.fromkeys(("bounce like a ball", "bob up and down"), "bounce"),
    **dict.fromkeys(("fall", "drop", "plummet", "plunge", "tumble", "topple", "fall down", "drop down"), "fall"),
    **dict.fromkeys(("spin", "rotate", "twirl", "whirl", "turn", "turn around", "revolve", "pivot"), "spin"),
    **dict.fromkeys(("swirl", "gyrate", "clockwise", "counterclockwise", "anticlockwise"), "spin"),
    **dict.fromkeys(("grow", "expand", "swell", "inflate", "enlarge", "get bigger", "get larger"), "grow"),
    **dict.fromkeys(("grow larger", "grow bigger", "bigger and bigger", "larger and larger", "scale up"), "grow"),
    **dict.fromkeys(("blow up", "get bigger and bigger"), "grow"),
    **dict.fromkeys(("shrink", "contract", "dwindle", "deflate", "diminish", "shrivel", "get smaller"), "shrink"),
    **dict.fromkeys(("shrink smaller", "smaller and smaller", "scale down", "get smaller and smaller"), "shrink"),
}
# Verbs of travel: they name no direction themselves ("drifting to the left" takes it from "to the left").
MOVE_VERBS = (
    "move", "drift", "slide", "glide", "head", "travel", "go", "fly", "roll", "run", "walk", "swim", "float", "pass",
    "cross", "race", "dart", "shoot", "scoot", "sail", "zip", "coast", "creep", "crawl", "shift", "rush", "dash",
    "speed", "wander", "cruise", "still move", "make its way", "come", "slip",
)  # fmt: skip

# Places in the frame, not motions: "in the top left", "on the left side", "left of the square".
POSITIONS = (
    "top left", "top right", "bottom left", "bottom right", "upper left", "upper right", "lower left",
    "lower right", "on the left", "on the right", "at the left", "at the right", "in the left", "in the right",
    "left side", "right side", "left half", "right half", "left corner", "right corner", "left of", "right of",
    "to the left of", "to the right of", "at left", "at right", "left edge", "right edge", "top edge", "bottom edge",
    "top", "bottom", "upper", "lower", "centre", "center", "middle", "corner", "on top", "on top of",
)  # fmt: skip

CAMERA_NOUNS = ("camera", "view", "shot", "viewpoint", "lens")
PAN_VERBS = ("pan", "tilt", "track", "truck", "dolly")
ZOOM_VERBS = ("zoom",)
ZOOM_IN_WORDS = ("in", "into", "closer", "inward", "forward")
ZOOM_OUT_WORDS = ("out", "away", "back", "outward", "backward")
# Whole camera phrases that need no scanning: every value is a name in world.CAMERAS.
CAMERA_PHRASES = {
    "push in": "zoom in",
    "dolly in": "zoom in",
    "close in": "zoom in",
    "pull back": "zoom out",
    "pull out": "zoom out",
    "dolly out": "zoom out",
}

BACKGROUND_NOUNS = ("background", "backdrop", "surface", "wall", "canvas", "backround", "bg")

# Occlusion: "behind" puts the object before the phrase behind the object after it; "front" puts it
# in front; "hides_it" makes the object before the phrase hide the object mentioned before that.
OCCLUSION = {
    **dict.fromkeys(("behind", "hide behind", "hide by", "cover by", "occlude by", "obscure by"), "behind"),
    **dict.fromkeys(("block by", "eclipse by", "mask by", "conceal by", "disappear behind"), "behind"),
    **dict.fromkeys(("in front of", "hide", "cover", "occlude", "obscure", "eclipse", "conceal"), "front"),
    **dict.fromkeys(("hide it", "cover it", "obscure it", "conceal it"), "hides_it"),
}

# Words that end one description and start the next: camera and background look-ups stop here.
SEPARATORS = (
    "and", "while", "whilst", "with", "as", "but", "plus", "then", "meanwhile", "also", "nearby", "elsewhere",
    "next to", "beside", "above", "below", "near", "under", "over", "alongside", "against", "where",
    ",", ".", ";", ":", "!", "?",
)  # fmt: skip

# Known words that carry nothing the world can use (not reported as unknown).
FILLERS = (
    "a", "an", "the", "another", "one", "some", "of", "on", "in", "at", "to", "from", "for", "by", "into", "onto",
    "out", "off", "through", "across", "along", "around", "toward", "towards", "away", "back", "closer", "inward",
    "outward", "forward", "backward", "it", "its", "their", "they", "them", "is", "are", "be", "being",
    "was", "were", "has", "have", "that", "which", "who", "there", "here", "this", "these", "those", "just", "very",
    "slowly", "quickly", "fast", "slow", "steadily", "gently", "smoothly", "gradually", "constantly", "continuously",
    "repeatedly", "rapidly", "lazily", "softly", "bright", "dark", "light", "pale", "deep", "vivid", "plain", "flat",
    "solid", "simple", "faint", "checker", "checkered", "pattern", "frame", "screen", "scene", "video", "clip",
    "image", "picture", "animation", "movie", "keep", "start", "begin", "continue", "stay", "remain", "hold",
    "watch", "appear", "reappear", "emerge", "come out", "again", "way", "moment", "for a moment",
    "other", "side", "edge", "same", "time", "size", "sized", "in size", "shaped", "floor", "ground", "gravity",
    "under gravity", "land", "place", "in place", "spot", "on the spot", "in view", "in front", "before", "after",
    "until", "like", "colored", "coloured", "color", "colour", "each", "both", "all", "show", "showing", "make",
    "create", "please", "of the frame", "back and forth", "side to side", "upside down", "on its way",
    "very slowly", "little by little", "so", "now", "still image", "whole", "entire", "vertically",
    "horizontally", "smooth", "nice", "cute", "pretty", "shiny", "glossy", "matte", "lone", "single", "only",
)  # fmt: skip

# Irregular forms the suffix rules cannot undo.
IRREGULAR = {
    "hidden": "hide",
    "hid": "hide",
    "went": "go",
    "gone": "go",
    "fell": "fall",
    "fallen": "fall",
    "flew": "fly",
    "flown": "fly",
    "ran": "run",
    "spun": "spin",
    "grew": "grow",
    "grown": "grow",
    "shrank": "shrink",
    "shrunk": "shrink",
    "sank": "sink",
    "sunk": "sink",
    "swam": "swim",
    "slid": "slide",
    "sat": "sit",
    "stood": "stand",
    "blew": "blow",
    "blown": "blow",
    "dove": "plunge",
    "leapt": "leap",
    "came": "come",
    "colors": "color",
    "colours": "colour",
    "centred": "centre",
    "centered": "center",
}
