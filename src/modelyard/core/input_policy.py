"""What a model does with inputs its training data never had, as one policy that the server,
the gates and monitoring share.

``unseen_categories``: ``reject`` (the server answers 422 naming the value), ``pass`` (the value
reaches the model, whose encoder handles it) or ``as_missing`` (the value is replaced by a
missing value before the model sees it). ``extra_fields``: ``reject`` (422) or ``ignore``
(dropped). The signature records the policy inferred from the fitted pipeline when the version
is logged; a model's ``inputs`` section in the project file overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard.core.project import InputPolicy

UNSEEN = ("reject", "pass", "as_missing")
EXTRA = ("reject", "ignore")


@dataclass(frozen=True)
class Effective:
    unseen_categories: str = "reject"
    extra_fields: str = "reject"
    source: str = "default"  # default | inferred: <why> | project file


def effective(signature: dict[str, Any] | None, config: InputPolicy | None = None) -> Effective:
    """The policy in force: the project file's setting, else the signature's inferred one."""
    recorded = dict((signature or {}).get("input_policy") or {})
    unseen = recorded.get("unseen_categories", "reject")
    extra = recorded.get("extra_fields", "reject")
    source = f"inferred: {recorded['why']}" if recorded.get("why") else "default"
    if config is not None and config.unseen_categories is not None:
        unseen, source = config.unseen_categories, "project file"
    if config is not None and config.extra_fields is not None:
        extra, source = config.extra_fields, "project file"
    if unseen not in UNSEEN:
        unseen = "reject"
    if extra not in EXTRA:
        extra = "reject"
    return Effective(unseen, extra, source)
