"""EventBridge schedule expressions, checked by EventBridge's own rules (the config refuses what a deploy would).

An invalid expression passes `cdk synth` and fails only at deploy (FACTS.md), so the configuration model checks
it here, and both the CLI and synth report it as a one-line config error.

- `rate(value unit)`: value a positive integer; unit `minute|hour|day` when value is 1, `minutes|hours|days`
  otherwise.
- `cron(Minutes Hours Day-of-month Month Day-of-week Year)`: six fields; exactly one of day-of-month and
  day-of-week is `?`. Per field: `*`, numbers and (month, day-of-week) names, ranges `a-b`, lists `a,b`, steps
  `*/n` `a/n` `a-b/n`; `?` only in the two day fields; `L`, `LW`, `nW` in day-of-month and `L`, `nL`, `n#k` in
  day-of-week, each on its own. Ranges: minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 (JAN-DEC),
  day-of-week 1-7 (SUN-SAT, 1 = Sunday), year 1970-2199.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RATE = re.compile(r"^rate\((\d+) ([a-z]+)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}
WEEKDAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split(), start=1)}  # EventBridge: 1 = Sunday
EXAMPLE = "use rate(N minutes|hours|days) or cron(Minutes Hours Day-of-month Month Day-of-week Year), e.g. rate(1 hour) or cron(0 * * * ? *)"


@dataclass(frozen=True)
class CronField:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None
    special: re.Pattern | None = None  # the L / W / # forms this field allows


FIELDS = (
    CronField("minutes", 0, 59),
    CronField("hours", 0, 23),
    CronField("day-of-month", 1, 31, special=re.compile(r"^(L|LW|\d{1,2}W)$")),
    CronField("month", 1, 12, MONTHS),
    CronField("day-of-week", 1, 7, WEEKDAYS, special=re.compile(r"^(L|(\d|[A-Z]{3})L|(\d|[A-Z]{3})#[1-5])$")),
    CronField("year", 1970, 2199),
)


class ScheduleSyntaxError(ValueError):
    """An expression EventBridge would refuse; the message is one line that says how to write it."""


@dataclass(frozen=True)
class Rate:
    value: int
    unit: str  # minute | hour | day

    @property
    def seconds(self) -> int:
        return self.value * _UNITS[self.unit]


@dataclass(frozen=True)
class Cron:
    fields: tuple[str, ...]  # the six fields as written
    # The values each field matches (None: `*`/`?` match everything of the field; L/W/# forms are None too, with
    # `special` naming the field); what the CDK app's heartbeat period is computed from.
    values: tuple[frozenset[int] | None, ...]
    special: tuple[str, ...] = ()  # fields that use L, W or #

    def field(self, name: str) -> str:
        return self.fields[[f.name for f in FIELDS].index(name)]


def parse_schedule(expression: str) -> Rate | Cron:
    if not isinstance(expression, str):
        raise ScheduleSyntaxError(EXAMPLE)
    rate = _RATE.match(expression)
    if rate:
        return _rate(int(rate.group(1)), rate.group(2))
    cron = _CRON.match(expression)
    if cron:
        return _cron(cron.group(1))
    raise ScheduleSyntaxError(EXAMPLE)


def _rate(value: int, unit: str) -> Rate:
    singular = unit.removesuffix("s")
    if singular not in _UNITS or unit not in (singular, singular + "s"):
        raise ScheduleSyntaxError(f"unknown rate unit {unit!r}; use minute(s), hour(s) or day(s)")
    if value < 1:
        raise ScheduleSyntaxError("a rate must be at least 1, e.g. rate(1 hour)")
    if value == 1 and unit != singular:
        raise ScheduleSyntaxError(f"a rate of 1 takes the singular unit: rate(1 {singular})")
    if value > 1 and unit == singular:
        raise ScheduleSyntaxError(f"a rate above 1 takes the plural unit: rate({value} {singular}s)")
    return Rate(value, singular)


def _cron(body: str) -> Cron:
    parts = body.split(" ")
    if len(parts) != 6 or not all(parts):
        raise ScheduleSyntaxError(
            f"cron takes six fields separated by single spaces (Minutes Hours Day-of-month Month Day-of-week "
            f"Year), not {len([p for p in parts if p])}; e.g. cron(0 * * * ? *)")
    values, special = [], []
    for spec, text in zip(FIELDS, parts):
        parsed = _field(spec, text.upper())
        values.append(parsed)
        if parsed is None and text not in ("*", "?"):
            special.append(spec.name)
    if (parts[2] == "?") == (parts[4] == "?"):
        raise ScheduleSyntaxError(
            "exactly one of day-of-month and day-of-week must be ?, e.g. cron(0 * * * ? *) or cron(0 9 ? * MON-FRI *)")
    return Cron(tuple(parts), tuple(values), tuple(special))


def _field(spec: CronField, text: str) -> frozenset[int] | None:
    if text in ("*", "?"):
        if text == "?" and spec.name not in ("day-of-month", "day-of-week"):
            raise ScheduleSyntaxError(f"cron {spec.name} field: ? is only allowed in day-of-month and day-of-week")
        return None
    if spec.special and spec.special.match(text):
        _special_values(spec, text)
        return None
    values: set[int] = set()
    for part in text.split(","):
        values.update(_part(spec, part, text))
    return frozenset(values)


def _special_values(spec: CronField, text: str) -> None:
    """The number inside an L / W / # form is in range too (15W, 6L, FRI#2)."""
    head = text.rstrip("LW") if spec.name == "day-of-month" else re.split(r"[L#]", text)[0]
    if head:
        _value(spec, head, text)


def _part(spec: CronField, part: str, whole: str) -> range:
    step, stepped = 1, "/" in part
    if stepped:
        part, step_text = part.split("/", 1)
        if not step_text.isdigit() or int(step_text) < 1:
            raise ScheduleSyntaxError(f"cron {spec.name} field {whole!r}: a step (/n) must be a whole number of at least 1")
        step = int(step_text)
    if part == "*":
        first, last = spec.low, spec.high
    elif "-" in part:
        a, b = part.split("-", 1)
        first, last = _value(spec, a, whole), _value(spec, b, whole)
        if first > last:
            raise ScheduleSyntaxError(f"cron {spec.name} field {whole!r}: a range must go upwards ({a}-{b})")
    else:
        first = _value(spec, part, whole)
        last = spec.high if stepped else first  # a/n: from a to the end of the field
    return range(first, last + 1, step)


def _value(spec: CronField, text: str, whole: str) -> int:
    if spec.names and text in spec.names:
        return spec.names[text]
    if not text.isdigit():
        names = f" or a name ({', '.join(spec.names)})" if spec.names else ""
        raise ScheduleSyntaxError(f"cron {spec.name} field {whole!r}: {text!r} is not a number{names}")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise ScheduleSyntaxError(f"cron {spec.name} field {whole!r}: values run from {spec.low} to {spec.high}")
    return value
