"""Free text -> SceneSpec, by rules: normalise, tag words with the lexicon, then group the tags into objects.

Four passes over one list of tags:
  1. tag: longest lexicon phrase first, each word reduced to its base form ("sliding" -> "slide");
  2. camera: a camera word takes the direction (or in/out, or "still") that follows it, so "the
     camera pans left" never makes an object move left;
  3. background: a colour next to "background"/"backdrop"/... (or a colour only backgrounds have)
     is the background, not an object;
  4. objects: colour/size/count words wait for the next noun; a motion after a noun belongs to it,
     a motion right before the adjectives to the object they describe; "behind"/"hidden by"/...
     link the objects on either side.
"""

import re
from dataclasses import dataclass, replace

from ..world import ObjectSpec, SceneSpec
from ..world.spec import OCCLUDING_MOTIONS
from . import lexicon as lx

MAX_OBJECTS = 3
CAMERA_WINDOW = 5  # tags a camera word looks ahead for its direction
BACKGROUND_WINDOW = 3  # tags a background noun looks back for its colour
_TOKEN = re.compile(r"[^\W_]+|[.,;:!?]")


@dataclass(frozen=True)
class Tag:
    kind: str  # color, shape, size, count, motion, move, camera_noun, pan, zoom, camera, bg_noun, background,
    #           relation, position, sep, filler, unknown
    value: object
    words: tuple[str, ...]


def _phrase_table() -> dict[tuple[str, ...], tuple[str, object]]:
    table: dict[tuple[str, ...], tuple[str, object]] = {}

    def add(phrases, kind, value_of=lambda p: None):
        for p in phrases:
            key = tuple(p.split())
            if key in table:
                raise AssertionError(f"recaption lexicon: {p!r} is listed twice ({table[key][0]} and {kind})")
            table[key] = (kind, value_of(p))

    # a colour word may name an object colour, a background colour, or both ("charcoal")
    colors = {**dict.fromkeys(lx.BACKGROUND_COLORS), **dict.fromkeys(lx.OBJECT_COLORS)}
    add(colors, "color", lambda p: (lx.OBJECT_COLORS.get(p), lx.BACKGROUND_COLORS.get(p)))
    add(lx.SHAPES, "shape", lx.SHAPES.get)
    add(lx.GENERIC_NOUNS, "shape")
    add(lx.SIZES, "size", lx.SIZES.get)
    add(lx.COUNTS, "count", lx.COUNTS.get)
    add(lx.MOTIONS, "motion", lx.MOTIONS.get)
    add(lx.MOVE_VERBS, "move")
    add(lx.POSITIONS, "position")
    add(lx.CAMERA_NOUNS, "camera_noun")
    add(lx.PAN_VERBS, "pan")
    add(lx.ZOOM_VERBS, "zoom")
    add(lx.CAMERA_PHRASES, "camera", lx.CAMERA_PHRASES.get)
    add(lx.BACKGROUND_NOUNS, "bg_noun")
    add(lx.OCCLUSION, "relation", lx.OCCLUSION.get)
    add(lx.SEPARATORS, "sep")
    add(lx.FILLERS, "filler")
    return table


_PHRASES = _phrase_table()
_VOCAB = frozenset(w for key in _PHRASES for w in key)
_LONGEST = max(len(k) for k in _PHRASES)
_SUFFIXES = (("ies", ("y",)), ("es", ("", "e")), ("s", ("",)), ("ing", ("", "e")), ("ed", ("", "e")), ("d", ("",)))


def stem(word: str) -> str:
    """The lexicon's base form of `word` ("sliding" -> "slide", "hopped" -> "hop"), or `word` itself."""
    if word in _VOCAB:
        return word
    if word in lx.IRREGULAR:
        return lx.IRREGULAR[word]
    for suffix, endings in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            base = word[: -len(suffix)]
            candidates = [base + e for e in endings]
            if len(base) >= 3 and base[-1] == base[-2]:
                candidates.append(base[:-1])  # hopping -> hopp -> hop
            for c in candidates:
                if c in _VOCAB:
                    return c
    return word


def words(prompt: str) -> list[str]:
    """Case-folded words and clause punctuation; apostrophes dropped ("doesn't" -> "doesnt")."""
    return _TOKEN.findall(prompt.casefold().replace("'", "").replace("\u2019", ""))


def tag(prompt: str) -> list[Tag]:
    raw = words(prompt)
    stems = [stem(w) for w in raw]
    tags, i = [], 0
    while i < len(raw):
        for n in range(min(_LONGEST, len(raw) - i), 0, -1):
            hit = _PHRASES.get(tuple(stems[i : i + n]))
            if hit is not None:
                tags.append(Tag(hit[0], hit[1], tuple(raw[i : i + n])))
                i += n
                break
        else:
            tags.append(Tag("unknown", None, (raw[i],)))
            i += 1
    return tags


def _consume(tags: list[Tag], i: int) -> None:
    tags[i] = replace(tags[i], kind="filler")


def _camera_move(tags: list[Tag], i: int) -> tuple[str | None, int]:
    """What the camera word at i asks for, and where the word saying it is."""
    t = tags[i]
    if t.kind == "camera_noun":  # "a static camera", "a locked-off camera"
        before = [j for j in range(i) if tags[j].kind != "filler"]
        if before and tags[before[-1]].kind == "motion" and tags[before[-1]].value == "static":
            return "static", before[-1]
    zooming = t.kind == "zoom"
    for j in range(i + 1, min(i + 1 + CAMERA_WINDOW, len(tags))):
        u = tags[j]
        if u.kind == "zoom":
            zooming = True
        elif u.kind == "motion" and u.value in OCCLUDING_MOTIONS:  # left/right/up/down
            # "a car zooming left" is the car moving, not the camera
            return (None, j) if t.kind == "zoom" else (f"pan {u.value}", j)
        elif u.kind == "motion" and u.value == "static" and t.kind == "camera_noun" and not _prenominal(tags, j):
            return "static", j
        elif u.kind == "filler" and zooming and u.words[0] in lx.ZOOM_IN_WORDS + lx.ZOOM_OUT_WORDS:
            return ("zoom in" if u.words[0] in lx.ZOOM_IN_WORDS else "zoom out"), j
        elif u.kind not in ("filler", "move", "pan", "camera_noun", "position"):
            break
    return None, i


def _camera(tags: list[Tag]) -> str | None:
    """The camera move the prompt asks for (the first one); every camera phrase's words become fillers."""
    found = None
    for i, t in enumerate(tags):
        if t.kind == "camera":
            move, j = t.value, i
        elif t.kind in ("camera_noun", "pan", "zoom"):
            move, j = _camera_move(tags, i)
        else:
            continue
        if move is None:
            if t.kind == "zoom":  # no in/out follows: "zoom" was a verb of travel
                tags[i] = replace(t, kind="move")
            continue
        found = found or move
        _consume(tags, i)
        _consume(tags, j)
    return found


def _next_kind(tags: list[Tag], i: int, skip: tuple[str, ...]) -> tuple[int, str | None]:
    for j in range(i + 1, len(tags)):
        if tags[j].kind not in skip:
            return j, tags[j].kind
    return len(tags), None


def _background(tags: list[Tag]) -> str | None:
    """The background colour asked for; colour tags used for it become `background` tags."""
    for i, t in enumerate(tags):
        if t.kind != "bg_noun":
            continue
        for j in range(i - 1, max(i - 1 - BACKGROUND_WINDOW, -1), -1):
            if tags[j].kind == "color":
                obj, bg = tags[j].value
                tags[j] = Tag("background", bg or lx.OBJECT_TO_BACKGROUND[obj], tags[j].words)
                break
            if tags[j].kind not in ("filler", "size"):
                break
    for i, t in enumerate(tags):
        if t.kind == "color" and t.value[0] is None:  # a colour only backgrounds have
            _, kind = _next_kind(tags, i, ("filler", "size"))
            if kind == "shape":  # "a light blue ball": the closest object colour
                tags[i] = Tag("color", (lx.BACKGROUND_TO_OBJECT[t.value[1]], None), t.words)
            else:  # "on grey"
                tags[i] = Tag("background", t.value[1], t.words)
    return next((t.value for t in tags if t.kind == "background" and t.value), None)


@dataclass
class _Mention:
    """One noun phrase being read: it may stand for `count` objects."""

    color: str | None = None
    size: str | None = None
    shape: str | None = None
    motion: str | None = None
    count: int = 1
    moving: bool = False  # a verb of travel without a direction ("passes in front of")

    def blank(self) -> bool:
        return self == _Mention()

    def has_adjectives(self) -> bool:
        return self.color is not None or self.size is not None or self.count > 1


def _prenominal(tags: list[Tag], i: int) -> bool:
    """True when the motion at i describes the object named next ("a spinning red square")."""
    _, kind = _next_kind(tags, i, ("filler", "move", "position"))
    return kind in ("color", "size", "shape", "count")


def _objects(tags: list[Tag]) -> tuple[list[_Mention], tuple[int, int | None] | None]:
    """Mentions in prompt order, and (mover, occluder) mention indices if one passes behind another."""
    mentions: list[_Mention] = []
    pending = _Mention()
    relation: tuple[str, int | None] | None = None  # waiting for the object after it
    occlusion: tuple[int, int | None] | None = None

    def close() -> None:
        nonlocal pending, relation, occlusion
        mentions.append(pending)
        pending = _Mention()
        if relation is not None and relation[1] is not None and occlusion is None:
            kind, before = relation
            new = len(mentions) - 1
            occlusion = (before, new) if kind == "behind" else (new, before)
        relation = None

    previous = None
    for i, t in enumerate(tags):
        k, v = t.kind, t.value
        if k == "color" and v[0] is not None:
            if previous == "shape" and pending.blank() and mentions[-1].shape is None and mentions[-1].color is None:
                mentions[-1].color = v[0]  # "something blue"
            elif previous != "color":  # "cherry red", "jet black": adjacent colour words name one colour
                if pending.color is not None:
                    close()
                pending.color = v[0]
        elif k == "size":
            if pending.size is not None:
                close()
            pending.size = v
        elif k == "count":
            if pending.has_adjectives():
                close()
            pending.count = v
        elif k == "shape":
            if previous == "shape" and pending.blank():  # "a square box", "a circle shape": one object
                mentions[-1].shape = mentions[-1].shape or v
            else:
                pending.shape = v
                close()
        elif k == "motion":
            if _prenominal(tags, i) or not pending.blank():
                pending.motion = pending.motion or v
            elif mentions:  # a second motion for the same object is dropped ("drops down")
                mentions[-1].motion = mentions[-1].motion or v
            else:  # "drifting to the left, a crimson ball"
                pending.motion = v
        elif k == "move":
            if pending.blank() and mentions:
                mentions[-1].moving = True
            else:
                pending.moving = True
        elif k == "relation":
            if pending.has_adjectives():  # "a red one behind ..."
                close()
            if v == "hides_it":
                if len(mentions) >= 2 and occlusion is None:
                    occlusion = (len(mentions) - 2, len(mentions) - 1)
            else:
                relation = (v, len(mentions) - 1 if mentions else None)
        elif k in ("background", "bg_noun"):  # "in front of a grey wall" is about the background
            relation = None
        if k != "filler":
            previous = k
    if pending.has_adjectives() or (not mentions and pending.motion is not None):
        close()
    elif mentions and not pending.blank():  # "a red circle, moving left"
        mentions[-1].motion = mentions[-1].motion or pending.motion
        mentions[-1].size = mentions[-1].size or pending.size
    if relation is not None and relation[0] == "behind" and relation[1] is not None and occlusion is None:
        occlusion = (relation[1], None)  # "a ball rolls behind": the occluder is filled
    return mentions, occlusion


def _can_occlude(mover: ObjectSpec, occluder: ObjectSpec | None, occluder_moves: bool) -> bool:
    """The world's occlusion: the mover travels in a straight line behind an occluder that stays still."""
    if mover.motion not in (None, *OCCLUDING_MOTIONS):
        return False
    return occluder is None or (occluder.motion in (None, "static") and not occluder_moves)


def _object_specs(mentions: list[_Mention], occlusion) -> tuple[tuple[ObjectSpec, ...], bool]:
    objects: list[ObjectSpec] = []
    first: list[int] = []  # index in `objects` of each mention's first object
    used: set[str] = set()
    for m in mentions:
        first.append(len(objects))
        for n in range(m.count):
            # the world gives every object its own colour: a repeated one is left to be filled
            color = m.color if n == 0 and m.color not in used else None
            used.add(color)
            objects.append(ObjectSpec(m.shape, color, m.size, m.motion))
    if occlusion is not None:
        mover, occluder = occlusion
        pair = [first[mover]] + ([first[occluder]] if occluder is not None else [])
        behind_obj = objects[pair[0]]
        front_obj = objects[pair[1]] if occluder is not None else None
        if _can_occlude(behind_obj, front_obj, occluder is not None and mentions[occluder].moving):
            order = pair + [i for i in range(len(objects)) if i not in pair]
            return tuple(objects[i] for i in order)[:MAX_OBJECTS], True
    return tuple(objects[:MAX_OBJECTS]), False


def parse_prompt(prompt: str) -> SceneSpec | None:
    """What `prompt` asks of the shapes world, leaving unnamed attributes None; None if nothing is recognised.

    Up to three objects are kept; a colour already given to an earlier object is dropped (filled later);
    occlusion is True only when asked for ("passes behind", "hidden by", ...) and possible (the mover
    travels left/right/up/down, the occluder stays still), and False otherwise.
    """
    tags = tag(prompt)
    camera = _camera(tags)
    background = _background(tags)
    mentions, occlusion = _objects(tags)
    objects, occludes = _object_specs(mentions, occlusion)
    if not objects and background is None and camera is None:
        return None
    return SceneSpec(objects=objects, background=background, camera=camera, occlusion=occludes)


def unknown_words(prompt: str) -> tuple[str, ...]:
    """Words of `prompt` the recaptioner does not know ("a red circle next to a cat" -> ("cat",))."""
    return tuple(t.words[0] for t in tag(prompt) if t.kind == "unknown")
