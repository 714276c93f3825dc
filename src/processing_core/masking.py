"""One masker for every exit of text from the process: secrets never leave it.

Secret values (ISB_PASSWORD, ARTIFACTORY_TOKEN, a task's SecretRef variables, passwords in
URLs) are registered once; every way text leaves the process goes through `mask()` or
`mask_data()`: log lines and their tracebacks, the result document, status events, span
status and recorded exceptions, CLI errors, and (through `MaskingStream`) anything else
written to standard output or error, such as `print()` or a library's own logging handler.
Standard library only: the pod imports it before anything else.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

MASK = "********"
# Values shorter than this are not masked: they would blank out ordinary words.
MIN_SECRET_LENGTH = 4
# user:password@ in any URL; the password goes, whatever it is: up to the last `@` before
# the host (as URL parsers read it), so a password holding `@` is masked whole.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)[^\s/]+@")


class Masker:
    def __init__(self) -> None:
        self._secrets: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, values: Iterable[str | None]) -> None:
        with self._lock:
            for value in values:
                if (
                    isinstance(value, str)
                    and len(value) >= MIN_SECRET_LENGTH
                    and value not in self._secrets
                ):
                    self._secrets.append(value)
            # Longest first, so a secret containing another is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def clear(self) -> None:
        with self._lock:
            self._secrets, self._pattern = [], None

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        if "://" in text:
            text = _URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)
        return text


masker = Masker()


def register_secrets(values: Iterable[str | None]) -> None:
    """Never let these values out: every later exit of text shows them as ********."""
    masker.add(values)


def mask(text: str) -> str:
    return masker(text)


def mask_data(value: Any, _depth: int = 0) -> Any:
    """`value` with every string in it (keys too) masked; containers copied, others as is."""
    if isinstance(value, str):
        return masker(value)
    if _depth > 200:  # deeper than any result may be: shown as masked, never recursed into
        return MASK
    if isinstance(value, Mapping):
        return {mask_data(k, _depth + 1): mask_data(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(item, _depth + 1) for item in value]
    return value


class MaskingStream:
    """A text stream that masks what passes through it, a line at a time.

    Complete lines are masked and written at once; a partial line waits for its newline (or
    a flush), so a secret written in two pieces is still masked whole.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._pending = ""
        self._lock = threading.RLock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            if "\n" in self._pending:
                complete, _, self._pending = self._pending.rpartition("\n")
                self.stream.write(masker(complete + "\n"))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                pending, self._pending = self._pending, ""
                self.stream.write(masker(pending))
            self.stream.flush()

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def closed(self) -> bool:
        return self.stream.closed

    def close(self) -> None:
        self.flush()
        self.stream.close()

    def __getattr__(self, name: str) -> Any:  # encoding, errors, buffer, ...
        return getattr(self.stream, name)
