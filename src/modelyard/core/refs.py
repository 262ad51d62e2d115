"""``NAME@VERSION`` references, parsed in one place with one error message."""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.core.errors import InvalidInput


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
    if not version.lstrip("v").isdigit():
        raise InvalidInput(
            f"invalid {what} reference {text!r}: version {version!r} is not a positive integer",
            hint=f"write {name}@1, {name}@2, … or {name}@latest",
        )
    v = int(version.lstrip("v"))
    if v < 1:
        raise InvalidInput(f"invalid {what} reference {text!r}: versions start at 1")
    return Ref(name, v)
