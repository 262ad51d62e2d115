"""The dashboard in a real browser (Debian's Chromium via Playwright) against a real server
process on a socket: pages render without console errors, lineage is drawn, and a viewer sees
no management actions while a reviewer can approve. Screenshots go to docs/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard.registry.registry import Registry
from tests.support.browser import chromium, dashboard, sign_in

pytestmark = pytest.mark.slow
SHOTS = Path(__file__).parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    project = tmp_path_factory.mktemp("ui") / "p"
    project.mkdir()
    (project / "modelyard.yaml").write_text(
        "identity: os\n"
        "models:\n  wine: {owner: team-wine, objective: grade wine, kpi: accuracy}\n"
        "governance:\n  approvals: {required: 1}\n"
    )
    X, y = load_wine(return_X_y=True, as_frame=True)
    with Registry.open(project, env={"MODELYARD_USER": "alice"}) as reg:
        ds = reg.add_dataset(X.assign(target=y), name="wine")
        for depth in (2, 3):
            with reg.start_run(model="wine", params={"max_depth": depth}, seed=0) as run:
                run.use_dataset(ds)
                run.log_metrics({"accuracy": 0.9 + depth / 100})
                mv = run.log_model(
                    DecisionTreeClassifier(max_depth=depth).fit(X, y), sample_input=X.head()
                )
            reg.transition(mv, "validated", reason="gates passed")
    with dashboard(project, ("viewer", "reviewer", "deployer")) as site:
        yield site


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def test_viewer_reads_every_page_without_errors_and_sees_no_actions(
    browser: Any, site: tuple[str, dict[str, str]]
) -> None:
    base, secrets = site
    page, errors = sign_in(browser, base, secrets["viewer"], height=800)
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert page.locator("#catalog").inner_text().count("wine@") == 2
    page.screenshot(path=str(SHOTS / "catalog.png"), full_page=True)
    page.click("text=wine@2")
    assert page.locator("svg.lineage-graph .node").count() >= 3
    assert page.locator("#approve-form").count() == 0, "a viewer gets no management actions"
    page.screenshot(path=str(SHOTS / "model-version.png"), full_page=True)
    page.goto(f"{base}/ui/audit")
    assert "Chain intact" in page.locator("#verification").inner_text()
    page.screenshot(path=str(SHOTS / "audit.png"), full_page=True)
    page.goto(f"{base}/ui/endpoints")
    assert errors == []


def test_reviewer_approves_in_one_click(browser: Any, site: tuple[str, dict[str, str]]) -> None:
    base, secrets = site
    page, errors = sign_in(browser, base, secrets["reviewer"], height=800)
    page.goto(f"{base}/ui/models/wine@1")
    page.fill("#approve-form input[name=comment]", "reviewed the gate report")
    page.click("#approve-form button")
    page.wait_for_url(f"{base}/ui/models/wine@1")
    assert "approved" in page.locator("h1").inner_text()
    assert "reviewed the gate report" in page.content()
    assert errors == []
