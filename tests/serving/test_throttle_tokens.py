"""Per-token throttling (each caller's bearer token its own bucket, hashed, bounded) and
run-time throttle overrides (set in the store, applied by a running server at its next refresh,
shown and cleared from the CLI)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from modelyard.core.endpoint_config import PerTokenThrottle, ThrottleConfig
from modelyard.core.errors import InvalidInput, NotFound
from modelyard.registry.registry import Registry
from modelyard.serving.errors import Throttled
from modelyard.serving.throttle import Limiter

YAML = """\
identity: os
name: throttle-tests
endpoints:
  tokens:
    throttle:
      per_token: {rate_per_s: 0.01, burst: 2}
  open: {}
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def per_token(**limits: Any) -> ThrottleConfig:
    return ThrottleConfig(per_token=PerTokenThrottle(**limits))


# ---- the limiter ----------------------------------------------------------------------------
def test_admit_holds_a_ticket_for_the_with_block_and_counts_refusals() -> None:
    refused: list[int] = []
    lim = Limiter(
        "e",
        ThrottleConfig(max_concurrency=1, per_token=PerTokenThrottle(max_concurrency=1)),
        clock=Clock(),
        on_refused=lambda: refused.append(1),
    )
    alice = [(b"authorization", b"Bearer alice")]
    with lim.admit(alice):
        assert lim.in_flight == 1
        with pytest.raises(Throttled):
            lim.admit([(b"authorization", b"Bearer bob")])  # the endpoint's own limit
    assert lim.in_flight == 0 and refused == [1]
    first = lim.admit(alice)
    with first:
        pass
    again = lim.admit(alice)
    with again:
        assert again is first  # one ticket per bucket: nothing allocated per request
    assert lim.in_flight == 0
    open_limiter = Limiter("o", ThrottleConfig())
    assert open_limiter.admit([]) is Limiter("p", ThrottleConfig()).admit([])


def test_each_token_has_its_own_bucket_and_callers_without_one_share_one() -> None:
    lim = Limiter("e", per_token(rate_per_s=1, burst=1), clock=Clock())
    lim.leave(lim.enter("Bearer alice"))
    lim.leave(lim.enter("Bearer bob"))  # bob is not charged for alice's request
    with pytest.raises(Throttled) as exc:
        lim.enter("Bearer alice")
    assert exc.value.details["limit"] == "throttle.per_token.rate_per_s"
    assert "per_token.rate_per_s" in exc.value.message and exc.value.retry_after_s == 1.0
    lim.leave(lim.enter(None))  # the anonymous bucket
    with pytest.raises(Throttled, match="anonymous"):
        lim.enter(None)


def test_per_token_concurrency_is_counted_until_the_request_leaves() -> None:
    lim = Limiter("e", per_token(max_concurrency=1), clock=Clock())
    held = lim.enter("Bearer alice")
    with pytest.raises(Throttled) as exc:
        lim.enter("Bearer alice")
    assert exc.value.details["limit"] == "throttle.per_token.max_concurrency"
    lim.leave(lim.enter("Bearer bob"))
    lim.leave(held)
    lim.leave(lim.enter("Bearer alice"))


def test_the_raw_token_is_never_kept() -> None:
    secret = "Bearer my_0123456789abcdef0123456789abcdef"
    lim = Limiter("e", per_token(rate_per_s=5), clock=Clock())
    lim.leave(lim.enter(secret))
    assert lim.per_token is not None
    (key,) = lim.per_token.buckets
    assert secret.encode() not in key and b"0123456789abcdef" not in key
    assert len(key) == 16


def test_tracked_tokens_are_bounded_least_recently_seen_forgotten_first() -> None:
    lim = Limiter("e", per_token(rate_per_s=1, burst=1, max_tokens=2), clock=Clock())
    lim.leave(lim.enter("Bearer a"))
    lim.leave(lim.enter("Bearer b"))
    lim.leave(lim.enter("Bearer c"))  # a, the least recently seen, is forgotten
    assert lim.per_token is not None and len(lim.per_token.buckets) == 2
    lim.leave(lim.enter("Bearer a"))  # a fresh bucket again
    with pytest.raises(Throttled):
        lim.enter("Bearer c")  # c is still tracked and empty


def test_an_endpoint_refusal_hands_the_token_its_request_back() -> None:
    config = ThrottleConfig(
        max_concurrency=1, per_token=PerTokenThrottle(rate_per_s=1, burst=1, max_concurrency=5)
    )
    lim = Limiter("e", config, clock=Clock())
    held = lim.enter("Bearer a")
    with pytest.raises(Throttled) as exc:
        lim.enter("Bearer b")
    assert exc.value.details["limit"] == "throttle.max_concurrency"
    lim.leave(held)
    lim.leave(lim.enter("Bearer b"))  # b's token was not spent by the refused request


def test_per_token_needs_a_limit() -> None:
    with pytest.raises(ValueError, match="per_token needs"):
        PerTokenThrottle()
    with pytest.raises(ValueError):
        ThrottleConfig.model_validate({"per_token": {"rate_per_s": 1, "bogus": 2}})


# ---- overrides in the store (SQLite and PostgreSQL) -----------------------------------------
def test_set_endpoint_overrides_is_audited_and_bumps_the_generation(registry: Registry) -> None:
    store = registry.store
    before = store.routes.generation("churn")
    gen = store.routes.set_overrides(
        "churn", {"throttle": {"rate_per_s": 5, "max_concurrency": 2}}, "ops", "incident 42"
    )
    assert gen == before + 1 == store.routes.generation("churn")
    assert store.routes.overrides("churn") == {
        "throttle": {"rate_per_s": 5.0, "max_concurrency": 2}
    }
    entry = store.chain.entries(action="endpoint.overrides")[-1]
    assert (entry.actor, entry.target, entry.reason) == (
        "ops",
        "endpoint:churn",
        "incident 42",
    )
    assert store.routes.set_overrides("churn", None, "ops", "resolved") == gen + 1
    assert store.routes.overrides("churn") is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cache": {}}, "unknown key 'cache'"),
        ({"throttle": {"rate_per_s": -1}}, "throttle.rate_per_s"),
        ({"throttle": {"rate": 5}}, "throttle.rate"),
        ({"throttle": 5}, "throttle must be an object"),
        ([1], "expected an object"),
    ],
)
def test_overrides_are_validated_naming_the_field(
    local_registry: Registry, overrides: Any, message: str
) -> None:
    store = local_registry.store
    with pytest.raises(InvalidInput, match=message):
        store.routes.set_overrides("churn", overrides, "ops", "x")
    assert store.routes.generation("churn") == 0  # nothing written


# ---- a running server ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, list[float]]]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelyard.registry.registry import Registry
    from modelyard.serving.stack import ServeSpec, build_app
    from tests.serving.conftest import RunningServer

    root = tmp_path_factory.mktemp("throttle") / "proj"
    root.mkdir()
    (root / "modelyard.yaml").write_text(YAML)
    env = {"MODELYARD_USER": "tester"}
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    reg = Registry.init(root, env=env, identity="os")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    mv = reg.register_model(model, "bc", X.head())
    reg.transition(mv, "validated", reason="gates")
    reg.transition(mv, "approved", reason="review", actor="reviewer")
    for endpoint in ("tokens", "open"):
        reg.deploy(mv.ref, endpoint, reason="test")
    server_reg = Registry.open(root, env)
    app = build_app(server_reg, ServeSpec(project=str(root), refresh_s=0.05), close_registry=True)
    srv = RunningServer(app)
    yield reg, srv.url, [float(v) for v in X.iloc[0]]
    srv.stop()
    reg.close()


def test_per_token_429_names_the_limit_and_tokens_do_not_share(
    served: tuple[Any, str, list[float]],
) -> None:
    _, url, row = served
    body = {"instances": [row]}
    with httpx.Client(base_url=url, timeout=30) as c:

        def post(token: str | None) -> httpx.Response:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            return c.post("/v1/models/tokens:predict", json=body, headers=headers)

        assert [post("alice").status_code for _ in range(2)] == [200, 200]
        refused = post("alice")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["details"]["limit"] == "throttle.per_token.rate_per_s"
        assert "alice" not in refused.text
        assert [post("bob").status_code for _ in range(2)] == [200, 200]
        assert [post(None).status_code for _ in range(3)] == [200, 200, 429]


def _wait_for(check: Any, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_running_server_applies_a_throttle_override_at_its_next_refresh(
    served: tuple[Any, str, list[float]],
) -> None:
    reg, url, row = served
    body = {"instances": [row]}
    with httpx.Client(base_url=url, timeout=30) as c:
        assert {c.post("/v1/models/open:predict", json=body).status_code for _ in range(5)} == {200}
        gen = reg.store.routes.set_overrides(
            "open", {"throttle": {"rate_per_s": 0.01, "burst": 1}}, "playbook", "overload"
        )

        def applied() -> bool:
            doc = c.get("/v1/models/open").json()
            return doc.get("overrides") is not None

        _wait_for(applied, "the override to reach the server")
        codes = [c.post("/v1/models/open:predict", json=body).status_code for _ in range(3)]
        assert codes.count(429) >= 2, codes  # a bucket of one: at most one more answer
        metrics = c.get("/metrics").text
        assert f'modelyard_plan_generation{{endpoint="open"}} {float(gen)}' in metrics
        reg.store.routes.set_overrides("open", None, "playbook", "recovered")
        _wait_for(lambda: "overrides" not in c.get("/v1/models/open").json(), "the clear")
        assert {c.post("/v1/models/open:predict", json=body).status_code for _ in range(5)} == {200}


# ---- the CLI ------------------------------------------------------------------------------
def test_endpoints_throttle_sets_shows_and_clears_an_override(
    served: tuple[Any, str, list[float]],
) -> None:
    import json

    from modelyard.cli.main import app

    reg, _, _ = served
    root = str(Path(reg.settings.project_dir))
    runner = CliRunner()
    env = {"MODELYARD_USER": "oncall"}

    def cli(*args: str) -> Any:
        return runner.invoke(app, [*args, "--project", root], env=env)

    r = cli("endpoints", "throttle", "tokens", "--rate", "5", "--concurrency", "3", "-m", "spike")
    assert r.exit_code == 0, r.output
    assert "generation" in r.output
    shown = cli("endpoints", "show", "tokens", "--json")
    assert json.loads(shown.stdout)["overrides"] == {
        "throttle": {"rate_per_s": 5.0, "max_concurrency": 3}
    }
    human = cli("endpoints", "show", "tokens")
    assert "override" in human.output and "rate_per_s 5.0" in human.output
    assert reg.store.chain.entries(action="endpoint.overrides")[-1].actor == "oncall"
    assert cli("endpoints", "throttle", "tokens", "--clear", "-m", "over").exit_code == 0
    assert json.loads(cli("endpoints", "show", "tokens", "--json").stdout)["overrides"] is None
    bad = cli("endpoints", "throttle", "tokens", "-m", "no limits")
    assert isinstance(bad.exception, InvalidInput) and "--rate" in str(bad.exception)
    missing = cli("endpoints", "throttle", "nope", "--rate", "1", "-m", "x")
    assert isinstance(missing.exception, NotFound) and "no endpoint 'nope'" in str(
        missing.exception
    )
