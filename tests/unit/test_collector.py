"""The collector's own parts that need no AWS: lazily decoded policies, the IAM client's timestamp parser."""

from __future__ import annotations

import json
import urllib.parse

import boto3
import pytest
from botocore.utils import parse_timestamp

from connector_health.collect.aws import Role, SnapshotCollector, parse_iso_timestamp

POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


@pytest.mark.parametrize("value", ["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123Z", "2024-02-29T23:59:59.000000Z",
                                   "2024-01-02T03:04:05+01:00", "1700000000", 1700000000.5, "Tue, 02 Jan 2024 03:04:05 GMT"])
def test_iso_timestamps_parse_to_botocores_instant_and_text(value):
    ours, botocores = parse_iso_timestamp(value), parse_timestamp(value)
    assert ours == botocores and str(ours) == str(botocores) and ours.utcoffset() == botocores.utcoffset()


def test_only_the_collectors_iam_client_reads_timestamps_directly():
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name="us-east-1")
    collector = SnapshotCollector(session)
    parser = collector._iam._endpoint._response_parser_factory.create_parser("query")
    assert parser._timestamp_parser is parse_iso_timestamp
    other = session.client("iam")._endpoint._response_parser_factory.create_parser("query")
    assert other._timestamp_parser is not parse_iso_timestamp


def test_policies_as_iam_sends_them_are_decoded_when_read():
    from connector_health.collect.aws import _AsSent, _decode_each, _decode_policy

    raw = urllib.parse.quote(json.dumps(POLICY))
    role = Role("r", "arn:aws:iam::123456789012:role/r", "/", _AsSent(raw, _decode_policy), json.dumps(POLICY),
                inline_policies=_AsSent({"p": raw, "bad": "%7Bnot json"}, _decode_each))
    assert role.trust_policy == POLICY
    assert role.inline_policies == {"p": POLICY, "bad": "%7Bnot json"}  # undecodable: as IAM sent it
    assert role == Role("r", role.arn, "/", POLICY, json.dumps(POLICY), {"p": POLICY, "bad": "%7Bnot json"})
    fresh = Role("s", "arn:aws:iam::123456789012:role/s", "/", {})
    fresh.inline_policies["x"] = POLICY
    assert Role("t", "arn", "/", {}).inline_policies == {}  # the default is never shared
