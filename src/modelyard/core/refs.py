"""``NAME@VERSION`` references and numeric ids from URLs, parsed in one place with one message.

Numbers that reach the store are bounded to what its integer columns hold (64-bit signed), so
``m@99999999999999999999`` is a clear 4xx here rather than an overflow in the database driver.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.core.errors import InvalidInput

MAX_ID = 2**63 - 1  # the largest value of a BIGINT / SQLite INTEGER column


@dataclass(frozen=True)
class Ref:
    name: str
    version: int | None  # None: the latest

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


def parse_ref(text: str, what: str = "model") -> Ref:
    name, sep, version = text.partition("@")
    if not name or (sep and not version):
        raise InvalidInput(f"invalid {what} reference {text!r}: expected NAME or NAME@VERSION")
    if not sep or version == "latest":
        return Ref(name, None)
    digits = version.lstrip("v")
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidInput(
            f"invalid {what} reference {text!r}: version {version!r} is not a positive integer",
            hint=f"write {name}@1, {name}@2, … or {name}@latest",
        )
    if len(digits) > 19 or int(digits) > MAX_ID:
        raise InvalidInput(
            f"invalid {what} reference {text[:80]!r}: version is larger than {MAX_ID}",
            hint=f"write {name}@1, {name}@2, … or {name}@latest",
        )
    v = int(digits)
    if v < 1:
        raise InvalidInput(f"invalid {what} reference {text!r}: versions start at 1")
    return Ref(name, v)


def parse_id(text: str, what: str) -> int:
    """A positive whole-number id from a path or a form (1 … 2^63-1)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or not 0 < int(text) <= MAX_ID:
        raise InvalidInput(
            f"{what} id must be a whole number from 1 to {MAX_ID}, got {text[:40]!r}"
        )
    return int(text)
