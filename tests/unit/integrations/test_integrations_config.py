"""The integrations' configuration: off by default, and every mistake a one-line error naming the field."""

from __future__ import annotations

import pytest

from connector_health.config import ConfigError, parse_config
from connector_health.integrations import enabled

BASE = {"connectors": [{"name": "ci", "preset": "github-actions", "roles": [{"name": "d", "audience": "sts.amazonaws.com"}]}]}


def test_off_by_default():
    config = parse_config(BASE)
    assert not config.integrations.security_hub.enabled and not config.integrations.eventbridge.enabled
    assert config.alerts.chat_topic_arn is None and not config.alerts.create_chat_topic
    assert not enabled(config)


@pytest.mark.parametrize("extra,expected", [
    ({"integrations": {"eventbridge": {"enabled": True, "source": "aws.securityhub"}}},
     "integrations.eventbridge.source = 'aws.securityhub': sources starting with 'aws.' are reserved"),
    ({"integrations": {"eventbridge": {"bus": "my bus"}}},
     "integrations.eventbridge.bus = 'my bus': use an event bus name (default) or an event bus ARN"),
    ({"alerts": {"chat_topic_arn": "arn:aws:sqs:us-east-1:123456789012:q"}},
     "alerts.chat_topic_arn = 'arn:aws:sqs:us-east-1:123456789012:q': use an SNS topic ARN"),
    ({"alerts": {"chat_topic_arn": "arn:aws:sns:us-east-1:123456789012:c", "create_chat_topic": True}},
     "alerts: set chat_topic_arn (an existing topic) or create_chat_topic: true, not both"),
    ({"integrations": {"securityhub": {"enabled": True}}},
     "integrations.securityhub: unknown option; did you mean 'security_hub'?"),
])
def test_mistakes_are_one_line(extra, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(BASE | extra)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_enabled_with_any_integration():
    assert enabled(parse_config(BASE | {"integrations": {"security_hub": {"enabled": True}}}))
    assert enabled(parse_config(BASE | {"alerts": {"create_chat_topic": True}}))
    assert enabled(parse_config(BASE | {"integrations": {"eventbridge": {"enabled": True,
                                                                          "bus": "arn:aws:events:eu-west-1:123456789012:event-bus/sec"}}}))
