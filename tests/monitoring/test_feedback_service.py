"""The feedback service checks what the adapters hand it before anything is stored: a refused
label, source, review status or decision raises ``InvalidInput`` whose message names where the
problem is, what was wrong and what was expected."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.core.errors import InvalidInput, NotFound
from modelyard.core.feedback_records import Label
from modelyard.monitoring import feedback
from modelyard.registry.registry import Registry


@pytest.mark.parametrize("value", ["Yes", 0, 1.5, True, ["Yes", "No"], [1, 2.5]])
def test_a_label_is_a_scalar_or_a_non_empty_list_of_scalars(value: Any) -> None:
    assert feedback.check_label(value, "row 1") == value


@pytest.mark.parametrize("value", [None, float("nan"), {"a": 1}, [], [{"a": 1}], [None]])
def test_anything_else_is_refused_naming_the_place_the_rule_and_the_value(value: Any) -> None:
    with pytest.raises(InvalidInput) as err:
        feedback.check_label(value, "row 3")
    message = str(err.value)
    assert message.startswith("row 3: label must be a string, number or boolean")
    assert "or a list of them for a multi-row prediction" in message
    assert message.endswith(f"got {value!r}")


def test_a_prediction_id_is_the_servers_id_without_surrounding_blanks() -> None:
    assert feedback.check_prediction_id("  a-1 ", "the body") == "a-1"
    assert feedback.check_prediction_id("x" * 64, "the body") == "x" * 64


@pytest.mark.parametrize("value", ["", "   ", None, 12, "x" * 65])
def test_a_missing_long_or_non_string_prediction_id_is_refused(value: Any) -> None:
    with pytest.raises(InvalidInput) as err:
        feedback.check_prediction_id(value, "labels[2]")
    assert str(err.value) == (
        "labels[2]: prediction_id must be a non-empty string of at most 64 characters "
        f"(the id the server returned), got {value!r}"
    )


def test_a_checked_label_names_the_item_and_its_prediction_id_when_the_label_is_wrong() -> None:
    assert feedback.checked_label(" p-1", 1, "arrests", "row 2") == Label("p-1", 1, "arrests")
    with pytest.raises(InvalidInput, match=r"^row 2 \(p-1\): label must be"):
        feedback.checked_label("p-1", {"a": 1}, None, "row 2")
    with pytest.raises(InvalidInput, match=r"^row 2: prediction_id must be"):
        feedback.checked_label(None, 1, None, "row 2")


def test_labels_are_recorded_once_checked_and_a_refused_batch_leaves_nothing(
    registry: Registry,
) -> None:
    done = feedback.add_labels(registry, [Label(" p-1 ", "Yes"), Label("p-2", 0)], "api", "ann")
    assert (done.received, done.new, done.replaced) == (2, 2, 0)
    assert feedback.label_of(registry, "p-1").label == "Yes"  # the id was trimmed
    with pytest.raises(InvalidInput, match=r"^label #1 \(p-4\): label must be"):
        feedback.add_labels(registry, [Label("p-3", 1), Label("p-4", None)], "api", "ann")
    with pytest.raises(NotFound, match="no feedback for prediction 'p-3'"):
        feedback.label_of(registry, "p-3")
    assert feedback.joined_count(registry, ["p-1", "p-2"]) == 0  # not in any log yet


def test_an_unknown_source_is_refused_listing_the_known_ones(registry: Registry) -> None:
    with pytest.raises(InvalidInput) as err:
        feedback.add_labels(registry, [Label("p-1", 1)], "email", "ann")
    assert str(err.value) == (
        "feedback source must be one of ('api', 'file', 'review'), got 'email'"
    )


def test_the_review_queue_is_read_by_status_or_all_and_an_unknown_status_is_refused(
    registry: Registry,
) -> None:
    assert feedback.review_items(registry) == []
    assert feedback.review_items(registry, "arrests", "all") == []
    with pytest.raises(InvalidInput) as err:
        feedback.review_items(registry, status="done")
    assert str(err.value) == (
        "review status must be one of pending, confirmed, corrected or all, got 'done'"
    )


@pytest.mark.parametrize(
    ("decision", "label", "message"),
    [
        ("maybe", None, "decision must be 'confirm' or 'correct', got 'maybe'"),
        ("correct", None, "a correction needs the right label: 'label' is missing"),
        ("correct", [{}], "review item #7: label must be a string, number or boolean"),
        ("confirm", 1, "'confirm' takes no label (the model's answer becomes the label)"),
    ],
)
def test_a_review_decision_is_checked_before_the_item_is_looked_up(
    registry: Registry, decision: str, label: Any, message: str
) -> None:
    with pytest.raises(InvalidInput) as err:  # item #7 does not exist: the input is checked first
        feedback.decide(registry, 7, decision, "rev", label)
    assert str(err.value).startswith(message)


def test_a_well_formed_decision_on_an_unknown_item_is_not_found(registry: Registry) -> None:
    with pytest.raises(NotFound, match=r"no review item #7"):
        feedback.decide(registry, 7, "correct", "rev", "Yes")
