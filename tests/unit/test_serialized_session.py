"""SerializedSession: clients of one boto3 session created from many threads (the scan's I/O threads, one CloudTrail
reader per region) never overlap in the session, while the clients themselves are used in parallel."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3

from connector_health.collect.aws import SerializedSession


class _Recording:
    """A stand-in session that records how many threads are inside client() at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.region_name = "eu-west-1"
        self._count = threading.Lock()

    def client(self, service: str, **_: object) -> str:
        with self._count:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(0.01)  # wide enough that unserialised calls would overlap
        with self._count:
            self.inside -= 1
        return service


def test_client_creation_is_serialised_and_the_rest_delegated():
    raw = _Recording()
    shared = SerializedSession.of(raw)
    assert SerializedSession.of(shared) is shared
    with ThreadPoolExecutor(max_workers=8) as pool:
        names = list(pool.map(lambda i: shared.client(f"svc{i}"), range(32)))
    assert names == [f"svc{i}" for i in range(32)] and raw.most == 1
    assert shared.region_name == "eu-west-1"

    unwrapped = _Recording()  # the same load without the wrapper does overlap: the test can tell the difference
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: unwrapped.client("x"), range(32)))
    assert unwrapped.most > 1


def test_real_clients_from_a_fresh_session_in_many_threads(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    shared = SerializedSession.of(boto3.session.Session(region_name="us-east-1"))
    services = ["sts", "cloudtrail", "cloudformation", "iam", "secretsmanager", "dynamodb", "sns", "securityhub"] * 4
    with ThreadPoolExecutor(max_workers=16) as pool:
        clients = list(pool.map(lambda name: shared.client(name, region_name="us-east-1"), services))
    assert [c.meta.service_model.service_name for c in clients] == services
    assert shared.get_credentials().access_key == "testing"
