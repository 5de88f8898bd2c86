"""Resolve a credential *reference* at the last moment and hold the value so it cannot leak.

The inventory only ever names where a secret lives (`env:NAME`, `file:PATH`, see
`auditor.model.inventory.SecretRef`). The SMTP collector resolves it right before it speaks
AUTH, into a `Secret` whose `repr`/`str`/`format` print a mask, which refuses to be pickled
or copied into another process, and which compares by identity so equality checks cannot be
used to guess the value. Error messages name the reference, never the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

from auditor.model.inventory import SecretRef

__all__ = ["Secret", "SecretUnavailable", "resolve_secret"]

_MASK = "Secret('***')"


class Secret:
    """A secret string that prints as `Secret('***')`; call `reveal()` where it is really needed.

    `__eq__`/`__hash__` are identity-based (object's defaults, stated explicitly) so that neither
    `secret == "guess"` nor dictionary look-ups reveal anything about the value.
    """

    __slots__ = ("__value",)

    def __init__(self, value: str) -> None:
        self.__value = value

    def reveal(self) -> str:
        """The secret itself. Use it to build the wire payload, and let it go immediately."""
        return self.__value

    def __repr__(self) -> str:
        return _MASK

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        # Truthiness would tell an empty password from a set one; that much is harmless and
        # useful ("is a password configured"), but make it explicit rather than accidental.
        return bool(self.__value)

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("Secret values cannot be pickled or copied")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: object) -> Secret:
        return self


class SecretUnavailable(Exception):
    """A secret reference that cannot be resolved. The message names the reference only."""

    def __init__(self, ref: SecretRef, reason: str) -> None:
        super().__init__(f"secret {ref} is unavailable: {reason}")
        self.ref = ref
        self.reason = reason


def resolve_secret(ref: SecretRef, environ: Mapping[str, str]) -> Secret:
    """Read the secret `ref` points to: an environment variable, or a file's contents.

    A file's single trailing newline is dropped (editors and `echo` add one; nobody means it as
    part of a password); any other white space is kept because it may be part of the secret.
    `environ` is passed in (never read from `os.environ` here) so a run is explicit and tests
    are isolated.
    """
    if ref.scheme == "env":
        value = environ.get(ref.location)
        if value is None:
            raise SecretUnavailable(ref, "environment variable is not set")
        if value == "":
            raise SecretUnavailable(ref, "environment variable is empty")
        return Secret(value)
    if ref.scheme == "file":
        try:
            raw = Path(ref.location).expanduser().read_bytes()
        except FileNotFoundError:
            raise SecretUnavailable(ref, "file does not exist") from None
        except IsADirectoryError:
            raise SecretUnavailable(ref, "path is a directory") from None
        except PermissionError:
            raise SecretUnavailable(ref, "file is not readable (permission denied)") from None
        except OSError as exc:
            # Only the errno name: an OSError's text could in theory carry file contents.
            raise SecretUnavailable(ref, f"file cannot be read ({type(exc).__name__})") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            # The exception would carry the raw bytes in `.object`; never chain it.
            raise SecretUnavailable(ref, "file is not UTF-8 text") from None
        if text.endswith("\r\n"):
            text = text[:-2]
        elif text.endswith("\n"):
            text = text[:-1]
        if text == "":
            raise SecretUnavailable(ref, "file is empty")
        return Secret(text)
    raise SecretUnavailable(ref, f"unknown scheme {ref.scheme!r} (use env:NAME or file:PATH)")
