"""User-facing errors: each message says what was wrong and what is allowed."""


class SoraError(ValueError):
    """Base class for errors caused by user input (arguments, files, workflows)."""


class CheckpointError(SoraError):
    """A checkpoint file is missing, unreadable, or does not match the architecture."""


class ShapeError(SoraError):
    """A size, frame count or tensor shape is not one the model can use."""
