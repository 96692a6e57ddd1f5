"""How often an EventBridge schedule expression fires: the period the heartbeat alarm and the dashboard use.

`rate(N unit)` is exact. For `cron(...)` the firings of two weeks (UTC) are enumerated minute by minute and the
longest gap between consecutive firings is the period: that is the interval within which a healthy monitor
must have produced a heartbeat, whatever the cron's shape (every 15 minutes, hourly on weekdays, ...).
Supported cron syntax: `*`, `?`, numbers, names (JAN, MON), ranges, lists and `/` steps; `L`, `W` and `#` are
refused with a message, since their period varies by month.
"""

from __future__ import annotations

import datetime as dt
import re

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}
_DAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split(), start=1)}  # EventBridge: 1 = Sunday
_WINDOW_DAYS = 14
# A fixed Monday, so that results do not depend on when synth runs (leap years and month lengths aside,
# which only matter for schedules this module refuses anyway).
_EPOCH = dt.datetime(2030, 1, 7, tzinfo=dt.timezone.utc)


class ScheduleError(ValueError):
    """A schedule whose period cannot be derived (the message is one line, for a failed synth)."""


def _field(spec: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    values: set[int] = set()
    for part in spec.upper().split(","):
        if any(ch in part for ch in "LW#"):
            raise ScheduleError(f"cron field {spec!r}: L, W and # are not supported here; use plain values")
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step < 1:
                raise ScheduleError(f"cron field {spec!r}: a step must be at least 1")
        if part in ("*", "?"):
            first, last = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            first, last = _value(a, names), _value(b, names)
        else:
            first = _value(part, names)
            last = high if step > 1 else first
        if not (low <= first <= high and low <= last <= high):
            raise ScheduleError(f"cron field {spec!r}: values must lie between {low} and {high}")
        values.update(range(first, last + 1, step))
    return values


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise ScheduleError(f"cron value {text!r} is not a number" + (" or a name" if names else ""))
    return int(text)


def _cron_firings(expression: str) -> list[dt.datetime]:
    fields = expression.split()
    if len(fields) != 6:
        raise ScheduleError(f"{expression!r}: EventBridge cron takes six fields (minute hour day month weekday year)")
    minute, hour, dom, month, dow, year = fields
    minutes = _field(minute, 0, 59)
    hours = _field(hour, 0, 23)
    doms = _field(dom, 1, 31)
    months = _field(month, 1, 12, _MONTHS)
    dows = _field(dow, 1, 7, _DAYS)
    if year not in ("*", "?"):
        raise ScheduleError(f"{expression!r}: a year-restricted cron runs out; use * for the year")
    if len(months) < 12:
        raise ScheduleError(f"{expression!r}: a month-restricted cron leaves months without scans; use * for the month")
    dom_any, dow_any = dom in ("*", "?"), dow in ("*", "?")
    out = []
    for day in range(_WINDOW_DAYS):
        date = _EPOCH + dt.timedelta(days=day)
        weekday = (date.isoweekday() % 7) + 1  # ISO Monday=1..Sunday=7 -> EventBridge Sunday=1..Saturday=7
        if date.month not in months:
            continue
        if not dom_any and date.day not in doms:
            continue
        if not dow_any and weekday not in dows:
            continue
        out.extend(date.replace(hour=h, minute=m) for h in sorted(hours) for m in sorted(minutes))
    return out


def schedule_period_seconds(expression: str) -> int:
    """The longest interval between two runs of `expression` (seconds, a multiple of 60)."""
    rate = _RATE.match(expression)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if count < 1:
            raise ScheduleError(f"{expression!r}: the rate must be at least 1")
        return count * _UNIT_SECONDS[unit]
    cron = _CRON.match(expression)
    if not cron:
        raise ScheduleError(f"{expression!r}: use rate(N minutes|hours|days) or cron(...)")
    firings = _cron_firings(cron.group(1))
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
