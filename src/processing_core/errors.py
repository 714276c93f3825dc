"""The errors processing-core raises; each message names the culprit and the fix."""

from __future__ import annotations

from collections.abc import Sequence


class ProcessingCoreError(Exception):
    """Base of every error this library raises on purpose."""


class SettingsError(ProcessingCoreError):
    """An environment variable holds a value processing-core cannot use."""


class WorkflowDefinitionError(ProcessingCoreError, ValueError):
    """A workflow or one of its tasks is defined in a way that cannot be exported."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ExportError(ProcessingCoreError):
    """Discovery or export failed; nothing was written."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(self.report("; nothing was written"))

    def report(self, outcome: str = "") -> str:
        """The problems under a header counting them, e.g. "2 problems found:"."""
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} found{outcome}:"
        return "\n".join([header, *(f"- {p}" for p in self.problems)])


class TaskResolutionError(ProcessingCoreError):
    """`run-task` could not find or load the task class it was given."""


class LocalRunError(ProcessingCoreError):
    """A local run (`processing-core run`) cannot start: bad parameters, selection, folder."""
