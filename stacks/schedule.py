"""How often an EventBridge schedule expression fires: the period the heartbeat alarm and the dashboard use.

The expression itself is already valid (the configuration checks it by EventBridge's rules:
connector_health.schedule). `rate(N unit)` is exact. For `cron(...)` the firings of two weeks (UTC) are
enumerated minute by minute and the longest gap between consecutive firings is the period: that is the interval
within which a healthy monitor must have produced a heartbeat, whatever the cron's shape (every 15 minutes, hourly
on weekdays, ...). Valid crons whose period varies by month or runs out (L, W and # forms, a restricted month or
year) are refused with a message: no heartbeat alarm could watch them.
"""

from __future__ import annotations

import datetime as dt

from connector_health.schedule import Cron, ScheduleSyntaxError, parse_schedule

_WINDOW_DAYS = 14
# A fixed Monday, so that results do not depend on when synth runs (leap years and month lengths aside,
# which only matter for schedules this module refuses anyway).
_EPOCH = dt.datetime(2030, 1, 7, tzinfo=dt.timezone.utc)


class ScheduleError(ValueError):
    """A schedule whose period cannot be derived (the message is one line, for a failed synth)."""


def _cron_firings(expression: str, cron: Cron) -> list[dt.datetime]:
    if cron.special:
        raise ScheduleError(f"{expression!r}: the {cron.special[0]} field uses L, W or #, whose period varies by "
                            "month; a heartbeat alarm cannot watch it, use plain values")
    minutes, hours, doms, months, dows, years = cron.values
    if years is not None:
        raise ScheduleError(f"{expression!r}: a year-restricted cron runs out; use * for the year")
    if months is not None and len(months) < 12:
        raise ScheduleError(f"{expression!r}: a month-restricted cron leaves months without scans; use * for the month")
    out = []
    for day in range(_WINDOW_DAYS):
        date = _EPOCH + dt.timedelta(days=day)
        weekday = (date.isoweekday() % 7) + 1  # ISO Monday=1..Sunday=7 -> EventBridge Sunday=1..Saturday=7
        if doms is not None and date.day not in doms:
            continue
        if dows is not None and weekday not in dows:
            continue
        out.extend(date.replace(hour=h, minute=m) for h in sorted(hours if hours is not None else range(24))
                   for m in sorted(minutes if minutes is not None else range(60)))
    return out


def schedule_period_seconds(expression: str) -> int:
    """The longest interval between two runs of `expression` (seconds, a multiple of 60)."""
    try:
        parsed = parse_schedule(expression)
    except ScheduleSyntaxError as exc:
        raise ScheduleError(f"{expression!r}: {exc}") from None
    if not isinstance(parsed, Cron):
        return parsed.seconds
    firings = _cron_firings(expression, parsed)
    if len(firings) < 2:
        raise ScheduleError(f"{expression!r} runs less than twice in two weeks; a heartbeat alarm cannot watch it")
    gaps = [(b - a).total_seconds() for a, b in zip(firings, firings[1:])]
    # The schedule repeats: the gap from the last firing of one week to the first of the next counts too.
    gaps.append((firings[0] + dt.timedelta(days=_WINDOW_DAYS) - firings[-1]).total_seconds())
    return int(max(gaps))


_DAY = 86400
_MAX_ALARM_WINDOW = 7 * _DAY  # CloudWatch: Period x EvaluationPeriods <= 7 days (<= 1 day below hourly periods)


def heartbeat_window(expression: str) -> tuple[int, int]:
    """(period seconds, evaluation periods) of an alarm that breaches when no run happened in two schedule periods.

    Every evaluation period must breach (datapoints to alarm = evaluation periods), so one late or missed run
    does not alarm; two do. Periods longer than a day are split into one-day buckets.
    """
    period = schedule_period_seconds(expression)
    if period <= _DAY:
        return period, 2
    buckets = -(-2 * period // _DAY)
    if buckets * _DAY > _MAX_ALARM_WINDOW:
        raise ScheduleError(f"{expression!r}: runs less often than every 3.5 days, longer than a CloudWatch alarm "
                            "can watch for a missing heartbeat; schedule at least every 3 days")
    return _DAY, buckets
