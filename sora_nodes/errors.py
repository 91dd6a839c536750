"""User-facing errors: each message says what was wrong and what is allowed."""


class SoraError(ValueError):
    """Base class for errors caused by user input (arguments, files, workflows)."""


class CheckpointError(SoraError):
    """A checkpoint file is missing, unreadable, or does not match the architecture."""


class ShapeError(SoraError):
    """A size, frame count or tensor shape is not one the model can use."""


class ResourceError(SoraError):
    """A render needs more memory than the machine has free."""


class WorkflowError(SoraError):
    """A workflow file cannot be read, converted or validated; `errors` lists every problem found."""

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.errors = list(errors or [])


class SafetyRejection(SoraError):
    """The safety filter refused a prompt or the generated frames; `category` says which kind."""

    def __init__(self, message: str, category: str | None):
        super().__init__(message)
        self.category = category


class ParallelError(SoraError):
    """A parallel render cannot start or go on: a bad world size, sizes that do not split across the ranks,
    a rank that stopped, or a collective that timed out."""
