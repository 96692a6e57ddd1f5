"""Faults in the stateful run: SNS and DynamoDB errors mid-run, and concurrent runs.

For each: no finding is lost (the next run alerts what this one could not), and no alert is sent twice.
"""

from __future__ import annotations

import threading

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from connector_health.engine import scan_account
from connector_health.pipeline import run_pipeline
from connector_health.state.store import StateStore

pytestmark = pytest.mark.integration
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
ACCOUNT = "123456789012"


@pytest.fixture
def primed(sandbox, config):
    """The baseline is recorded, the inbox empty, and then a drift: AdministratorAccess on a Defender role."""
    run_pipeline(config, run_id="prime")
    assert sandbox.read_alerts() == []
    sandbox.client("iam").attach_role_policy(RoleName="CspmMonitorAws", PolicyArn=ADMIN)
    return sandbox


@pytest.fixture
def fast_retries(monkeypatch):
    """Two attempts instead of eight, so a persistent error gets past botocore's retries in milliseconds."""
    from connector_health import pipeline
    from connector_health.state import store

    quick = Config(retries={"mode": "standard", "max_attempts": 2})
    monkeypatch.setattr(store, "BOTO_CONFIG", quick)
    monkeypatch.setattr(pipeline, "BOTO_CONFIG", quick)


def test_sns_throttled_once_publishes_exactly_once(primed, config, injector, errors):
    inject = injector().fail("sns", "Publish", 400, errors.query("Throttling", "Rate exceeded"), when=lambda op, n: n == 1)
    result = run_pipeline(config, run_id="t1", session=inject.session)
    assert inject.injected == {"Publish": 1}
    assert len(result.published) == 1 and not result.publish_errors
    assert len(primed.read_alerts()) == 1
    run_pipeline(config, run_id="t2")
    assert primed.read_alerts() == []


def test_sns_down_then_dynamodb_down_loses_nothing(primed, config, injector, errors, fast_retries):
    # run 1: SNS refuses every publish -> nothing advanced
    sns_down = injector().fail("sns", "Publish", 500, errors.query("InternalError"))
    failed = run_pipeline(config, run_id="s1", session=sns_down.session)
    assert failed.publish_errors and not failed.published
    assert primed.read_alerts() == []
    # run 2: DynamoDB refuses writes from the first claim on -> the run fails before publishing anything
    ddb_down = injector().fail("dynamodb", "UpdateItem", 500, errors.dynamodb("InternalServerError"),
                               when=lambda op, n: n > 0)
    with pytest.raises(ClientError):
        run_pipeline(config, run_id="s2", session=ddb_down.session)
    assert primed.read_alerts() == []
    # run 3, all healthy: the drift is alerted once, with every finding the failed runs saw
    healthy = run_pipeline(config, run_id="s3")
    [alert] = primed.read_alerts()
    assert "PERMS_ADMIN_ACCESS" in alert["body"] and "PERMS_DRIFT" in alert["body"]
    assert len(healthy.published) == 1
    run_pipeline(config, run_id="s4")
    assert primed.read_alerts() == []


def test_dynamodb_fails_after_publish_and_the_retry_does_not_repeat_the_alert(primed, config, injector, errors,
                                                                             fast_retries):
    published = threading.Event()
    inject = injector().fail("dynamodb", "UpdateItem", 500, errors.dynamodb("InternalServerError"),
                             when=lambda op, n: published.is_set())
    inject.session.events.register("after-call.sns.Publish", lambda **_: published.set())
    with pytest.raises(ClientError):
        run_pipeline(config, run_id="event-1", session=inject.session)  # dies after SNS accepted the message
    assert published.is_set()
    assert len(primed.read_alerts()) == 1
    retry = run_pipeline(config, run_id="event-1")  # Lambda's retry of the same event
    assert retry.published == [] and "defender" in retry.retried_runs
    run_pipeline(config, run_id="event-2")
    assert primed.read_alerts() == []
    records = StateStore(config.state.table_name).load_findings(ACCOUNT, "defender")
    admin = [r for r in records.values() if r.check_id == "PERMS_ADMIN_ACCESS"]
    assert admin and all(r.notified_status == "open" and r.claim is None for r in admin)


def test_dynamodb_throttled_mid_run_completes(primed, config, injector, errors):
    inject = injector().fail("dynamodb", "UpdateItem", 400, errors.dynamodb("ProvisionedThroughputExceededException"),
                             when=lambda op, n: n == 3)
    result = run_pipeline(config, run_id="d1", session=inject.session)
    assert inject.injected == {"UpdateItem": 1}
    assert len(result.published) == 1
    assert len(primed.read_alerts()) == 1


def test_concurrent_runs_alert_each_change_once(primed, config):
    barrier = threading.Barrier(3)
    results, failures = [], []

    def run(run_id):
        barrier.wait()
        try:
            results.append(run_pipeline(config, run_id=run_id))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(f"c{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    # Runs that interleave may split the changes between their messages; no change is ever in two of them.
    told = [c.record.fingerprint for r in results for p in r.published for c in r.changes[p.connector]]
    assert told and len(told) == len(set(told))
    assert len(primed.read_alerts()) == sum(len(r.published) for r in results) >= 1
    run_pipeline(config, run_id="c-after")
    assert primed.read_alerts() == []  # nothing was left unsaid either


def test_concurrent_scans_agree(sandbox, config):
    sandbox.client("iam").attach_role_policy(RoleName="CspmMonitorAws", PolicyArn=ADMIN)
    outputs: list[list[tuple[str, str]]] = []

    def scan():
        result = scan_account(config)
        outputs.append(sorted((f.check_id, f.resource_arn) for f in result.findings))

    threads = [threading.Thread(target=scan) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outputs) == 3 and outputs[0] == outputs[1] == outputs[2]
    assert any(check_id == "PERMS_ADMIN_ACCESS" for check_id, _ in outputs[0])


def _one_message_per_change(monkeypatch):
    """Every change in a message of its own, as when a connector's changes span several messages."""
    from connector_health import alerts, pipeline

    monkeypatch.setattr(pipeline, "compose_all", lambda account, connector, changes: [
        message for change in changes for message in alerts.compose_all(account, connector, [change])])


def test_a_message_that_cannot_be_sent_holds_back_only_its_own_changes(primed, config, injector, errors,
                                                                        monkeypatch):
    _one_message_per_change(monkeypatch)
    down_once = injector().fail("sns", "Publish", 500, errors.query("InternalError"), when=lambda op, n: n == 1)
    sns = down_once.session.client("sns", region_name=config.region,
                                   config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    first = run_pipeline(config, run_id="m1", sns=sns)
    loud = {c.record.fingerprint for c in first.changes["defender"]}
    told = {c.record.fingerprint for p in first.published for c in p.message.changes}
    assert len(first.publish_errors) == 1 and len(loud) >= 2 and len(told) == len(loud) - 1
    second = run_pipeline(config, run_id="m2")  # the held-back change, and only it
    assert {c.record.fingerprint for c in second.changes["defender"]} == loud - told
    assert len(primed.read_alerts()) == len(first.published) + len(second.published)
    run_pipeline(config, run_id="m3")
    assert primed.read_alerts() == []


def test_a_lambda_retry_after_some_messages_publishes_only_the_rest(primed, config, monkeypatch):
    _one_message_per_change(monkeypatch)
    original = StateStore.settle
    calls = {"n": 0}

    def die_after_the_first_message(self, account, connector, rec, run_id, *, notified, now):
        if notified and connector == "defender":
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("the function timed out")
        return original(self, account, connector, rec, run_id, notified=notified, now=now)

    monkeypatch.setattr(StateStore, "settle", die_after_the_first_message)
    with pytest.raises(RuntimeError):
        run_pipeline(config, run_id="event-9")  # the 2nd message was published, its bookkeeping died
    assert len(primed.read_alerts()) == 2
    monkeypatch.setattr(StateStore, "settle", original)
    retry = run_pipeline(config, run_id="event-9")
    # The first message's change was settled; the second's was published (its run marker says so) but not
    # settled: the retry settles it without sending it again, and sends the rest.
    told_now = {c.record.fingerprint for p in retry.published for c in p.message.changes}
    loud = {c.record.fingerprint for c in retry.changes["defender"]}
    assert "defender" in retry.retried_runs and len(told_now) == len(loud) - 1
    assert len(primed.read_alerts()) == len(retry.published)
    run_pipeline(config, run_id="event-10")
    assert primed.read_alerts() == []


def test_a_message_sns_refuses_goes_out_as_a_plain_list(primed, config, injector, errors):
    refused_once = injector().fail("sns", "Publish", 400, errors.query("InvalidParameter", "Message too long"),
                                   when=lambda op, n: n == 1)
    result = run_pipeline(config, run_id="p1", session=refused_once.session)
    assert not result.publish_errors and len(result.published) == 1
    [alert] = primed.read_alerts()
    assert "SNS refused the full alert" in alert["body"] and "PERMS_ADMIN_ACCESS" in alert["body"]
    run_pipeline(config, run_id="p2")
    assert primed.read_alerts() == []
