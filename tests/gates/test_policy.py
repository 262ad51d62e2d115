"""The gate policy is validated when the project file loads: key, line, allowed values."""

from __future__ import annotations

import pandas as pd
import pytest

from modelyard.core.errors import ConfigError
from modelyard.core.filters import FilterSyntaxError, parse_filter
from modelyard.core.gate_policy import CHECK_ORDER, METRICS
from modelyard.core.project import parse_project

BASE = """\
models:
  arrests:
    gates:
      dataset: arrests-eval@1
      metrics:
        thresholds: {roc_auc: {min: 0.7}}
      segments:
        - {name: young, filter: "age < 25", metric: accuracy, min: 0.7}
      calibration: {max_ece: 0.05}
"""


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_project(text, "modelyard.yaml")
    return info.value.message


def test_valid_policy_turns_on_the_sections_present() -> None:
    gates = parse_project(BASE).models["arrests"].gates
    assert gates.enabled() == ["metrics", "segments", "calibration"]
    assert gates.calibration.max_ece == 0.05


def test_empty_section_turns_a_check_on_with_defaults() -> None:
    gates = parse_project(BASE + "      schema:\n      explain:\n").models["arrests"].gates
    assert "schema" in gates.enabled() and "explain" in gates.enabled()
    assert gates.explain.n_repeats == 5


def test_no_gates_means_no_checks() -> None:
    assert parse_project("models: {m: {owner: me}}").models["m"].gates.enabled() == []


def test_unknown_metric_names_line_allowed_values_and_suggestion() -> None:
    msg = _error(BASE.replace("roc_auc: {min", "roc_aucc: {min"))
    assert "modelyard.yaml:6" in msg
    assert "models.arrests.gates.metrics.thresholds" in msg
    assert "did you mean 'roc_auc'" in msg
    assert "allowed: accuracy" in msg


def test_unknown_key_inside_a_section_lists_that_sections_keys() -> None:
    msg = _error(BASE.replace("max_ece", "max_ecee"))
    assert "modelyard.yaml:9: models.arrests.gates.calibration.max_ecee: unknown key" in msg
    assert "bins, max_brier, max_ece, severity" in msg
    assert "did you mean 'max_ece'" in msg


def test_misspelt_section_suggests_the_check() -> None:
    msg = _error(BASE.replace("calibration:", "calibraton:"))
    assert "did you mean 'calibration'" in msg
    for name in CHECK_ORDER:
        assert name in msg


def test_bad_segment_filter_is_refused_at_load_time() -> None:
    msg = _error(BASE.replace("age < 25", "__import__('os').system('x')"))
    assert "models.arrests.gates.segments.0.filter" in msg
    assert "is not allowed" in msg


def test_segment_key_typo_and_duplicate_names() -> None:
    msg = _error(BASE.replace("filter:", "filtr:"))
    assert "segments.0.filtr: unknown key" in msg and "did you mean 'filter'" in msg
    dup = BASE.replace(
        "      calibration:",
        '        - {name: young, filter: "age > 60"}\n      calibration:',
    )
    assert "segment name 'young' is used twice" in _error(dup)


def test_limits_are_range_checked() -> None:
    msg = _error(BASE + "      fairness: {demographic_parity_difference: 1.5}\n")
    assert "fairness.demographic_parity_difference" in msg
    assert "less than or equal to 1" in msg


def test_kpi_needs_exactly_one_source_and_known_outcomes() -> None:
    assert "exactly one of matrix" in _error(BASE + "      kpi: {}\n")
    msg = _error(BASE + "      kpi: {matrix: {tp: 1, fpp: -1}}\n")
    assert "kpi.matrix.fpp" in msg and "'tp', 'fp', 'fn' or 'tn'" in msg


def test_dataset_must_be_a_reference_and_corruptions_known() -> None:
    assert "is not NAME@VERSION" in _error(BASE.replace("arrests-eval@1", "arrests-eval@x"))
    msg = _error(BASE + "      robustness: {corruptions: [noise, typo]}\n")
    assert "robustness.corruptions.1" in msg and "'unseen_category'" in msg


def test_metric_lists_agree_with_implementations() -> None:
    from modelyard.gates import metrics

    assert set(metrics._FUNCS) == set(METRICS)


@pytest.mark.parametrize(
    "text",
    [
        "age < 25",
        'sex == "Female"',
        'colour in ["Black", "White"]',
        "18 <= age < 25",
        'not (sex == "Male") or checks >= 3',
        "checks != None",
        "age > -1",
    ],
)
def test_filters_parse(text: str) -> None:
    assert parse_filter(text).text == text


@pytest.mark.parametrize(
    "text",
    [
        "open('x')",
        "age.__class__",
        "age[0]",
        "age + 1 > 3",
        "lambda: 1",
        "1 < 2",
        "age",
        "age is None",
        "",
        "age <",
    ],
)
def test_filters_refuse_anything_but_comparisons(text: str) -> None:
    with pytest.raises(FilterSyntaxError):
        parse_filter(text)


def test_filter_masks_match_pandas(arrests: pd.DataFrame) -> None:
    cases = {
        "age < 25": arrests["age"] < 25,
        'sex == "Female"': arrests["sex"] == "Female",
        'colour in ["Black"]': arrests["colour"].isin(["Black"]),
        "18 <= age < 25": (arrests["age"] >= 18) & (arrests["age"] < 25),
        'not (sex == "Male") or checks >= 3': (arrests["sex"] != "Male") | (arrests["checks"] >= 3),
        '25 > age and colour not in ["White"]': (arrests["age"] < 25)
        & (arrests["colour"] != "White"),
    }
    for text, expected in cases.items():
        assert (parse_filter(text).mask(arrests) == expected.to_numpy()).all(), text


def test_backticks_name_columns_with_hyphens_spaces_and_dots(arrests: pd.DataFrame) -> None:
    awkward = arrests.rename(
        columns={"age": "age-at-arrest", "sex": "Sex Code", "checks": "n.checks"}
    )
    text = '`age-at-arrest` < 25 and `Sex Code` == "Female" or `n.checks` >= 3'
    flt = parse_filter(text)
    assert flt.columns == {"age-at-arrest", "Sex Code", "n.checks"}
    expected = ((arrests["age"] < 25) & (arrests["sex"] == "Female")) | (arrests["checks"] >= 3)
    assert (flt.mask(awkward) == expected.to_numpy()).all()
    # a backtick inside a string constant is text, not a column
    assert parse_filter('`Sex Code` == "a`b"').columns == {"Sex Code"}
    assert not parse_filter('`Sex Code` == "a`b"').mask(awkward).any()


@pytest.mark.parametrize("text", ["hours-per-week > 40", "income.total > 1"])
def test_an_unquoted_awkward_column_name_is_refused_with_the_backtick_hint(text: str) -> None:
    with pytest.raises(FilterSyntaxError, match="backticks"):
        parse_filter(text)


@pytest.mark.parametrize("text", ["`hours > 40", "`` > 1"])
def test_an_unclosed_or_empty_backtick_is_refused(text: str) -> None:
    with pytest.raises(FilterSyntaxError, match="never closed or is empty"):
        parse_filter(text)
