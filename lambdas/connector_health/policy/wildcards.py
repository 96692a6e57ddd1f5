"""IAM wildcard patterns, matched without backtracking: time proportional to pattern length × value length.

IAM's patterns (IAM user guide, "IAM JSON policy elements: Action / Resource", "Condition operators",
"IAM policy elements: Variables and tags") know:

* ``*``: any run of characters (also none); ``?``: exactly one character. Nothing else is special: no
  character classes, no backslash escapes.
* ``${*}``, ``${?}``, ``${$}``: a literal ``*``, ``?`` and ``$``.
* Policy variables ``${aws:username}`` and ``${key, 'default'}`` (the default in single quotes, ``''`` for a
  quote): replaced by the request's value of that condition key (key names are case-insensitive). IAM
  substitutes once: the value is literal text, its own ``*`` or ``${...}`` mean nothing. Variables exist only in
  policies of Version ``2012-10-17`` and only in Resource and string/ARN condition values, so `compile_wildcard`
  expands them only when asked (``variables=True``); otherwise ``${...}`` is ordinary text, as IAM reads it.

A variable that cannot be resolved (its key is absent from the request, has several values, or is not knowable at
scan time) and has no default makes the answer undecidable (None). IAM documents that such a match "fails" and
that it "might cause the entire statement to be invalid": two readings that differ for negated operators and Deny
statements, so the evaluator resolves it like any other undecidable part (its ``assume`` argument). Where no value
of the variable could change the answer (the pattern fails even with ``*`` in its place), the answer is False.

Algorithms (no regular expressions, so nothing to backtrack on hostile patterns such as ``*?*?*?…*!``):

* pattern against a value: a pattern of literals and ``*`` is cut at the stars into segments; the first must be a
  prefix, the last a suffix, the others are found left to right with `str.find` (the leftmost occurrence of each
  segment is always the right choice, so nothing is ever retried). A pattern of literals and ``?`` is one pass;
  one with both ``?`` and ``*`` runs a bit-parallel dynamic programme over the value's positions: one big-integer
  shift-and-mask per pattern character.
* pattern against pattern (`Wildcard.covers`: every name the query matches is matched; `Wildcard.overlaps`: some
  name is matched by both): the same programme over the query's positions (the product of the two patterns'
  automata), O(len(pattern) × len(query) / word size).

Compile once, match many: `compile_wildcard` is cached, and `WildcardSet` holds one policy element's patterns
(literal names in a set, ``prefix*`` patterns in one tuple for a single `str.startswith`, the rest as `Wildcard`).
"""

from __future__ import annotations

import functools
from typing import Any, Iterable, Mapping

__all__ = [
    "Variable",
    "Wildcard",
    "WildcardSet",
    "compile_wildcard",
    "literal_template",
    "needs_template",
    "split_arn_pattern",
    "wildcard_match",
]


class _Token:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


STAR = _Token("*")  # any run of characters
ANY = _Token("?")  # exactly one character
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


class Variable:
    """A policy variable ``${key}`` or ``${key, 'default'}``; `key` is lower-cased (IAM ignores its case)."""

    __slots__ = ("key", "default", "text")

    def __init__(self, key: str, default: str | None, text: str) -> None:
        self.key, self.default, self.text = key, default, text

    def __repr__(self) -> str:
        return self.text


def _parse_variable(text: str, start: int) -> tuple[Variable | str | None, int]:
    """The ``${...}`` form at `start` (where ``${`` begins): a Variable, the character of an escape (``${*}``), or
    None when the text there is not a variable; and the index after it."""
    close = text.find("}", start + 2)
    if close < 0:
        return None, start
    inner = text[start + 2:close]
    if inner in _ESCAPES:
        return _ESCAPES[inner], close + 1
    key, comma, _ = inner.partition(",")
    key = key.strip()
    if not key or any(c in key for c in " '${"):
        return None, start
    if not comma:
        return Variable(key.lower(), None, text[start:close + 1]), close + 1
    # ${key, 'text'}: '' stands for one quote, and the quoted text may itself hold "}".
    j = text.index(",", start) + 1
    while j < len(text) and text[j] == " ":
        j += 1
    if not text.startswith("'", j):
        return None, start
    out: list[str] = []
    j += 1
    while j < len(text):
        if text.startswith("''", j):
            out.append("'")
            j += 2
        elif text[j] == "'":
            end = j + 1
            while end < len(text) and text[end] == " ":
                end += 1
            if not text.startswith("}", end):
                return None, start
            return Variable(key.lower(), "".join(out), text[start:end + 1]), end + 1
        else:
            out.append(text[j])
            j += 1
    return None, start


def _next_special(text: str, start: int) -> int:
    found = [k for k in (text.find("*", start), text.find("?", start), text.find("$", start)) if k >= 0]
    return min(found) if found else len(text)


def _tokenize(text: str, *, variables: bool, wildcards: bool, ignore_case: bool) -> tuple[Any, ...]:
    """Tokens: literal strings (adjacent literals merged), STAR (runs collapsed), ANY and Variable."""
    tokens: list[Any] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            chunk = "".join(literal)
            tokens.append(chunk.lower() if ignore_case else chunk)
            literal.clear()

    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if wildcards and char == "*":
            flush()
            if not tokens or tokens[-1] is not STAR:
                tokens.append(STAR)
            i += 1
        elif wildcards and char == "?":
            flush()
            tokens.append(ANY)
            i += 1
        elif variables and char == "$" and text.startswith("${", i):
            found, after = _parse_variable(text, i)
            if found is None:
                literal.append(char)
                i += 1
            elif isinstance(found, str):
                literal.append(found)  # ${*} ${?} ${$}: the character itself, never a wildcard
                i = after
            else:
                flush()
                tokens.append(found)
                i = after
        else:
            j = _next_special(text, i + 1)  # copy the run of ordinary characters at once
            literal.append(text[i:j])
            i = j
    flush()
    return tuple(tokens)


def _value_of(variable: Variable, keys: Mapping[str, Any] | None) -> str | None:
    """The text a variable stands for in this request, or None when it cannot be resolved."""
    found = keys.get(variable.key) if keys else None
    if isinstance(found, str):
        return found
    if isinstance(found, (tuple, list)) and len(found) == 1 and isinstance(found[0], str):
        return found[0]
    absent = found is None or (isinstance(found, (tuple, list)) and not found)
    if absent and variable.default is not None:
        return variable.default
    return None


def _resolve(tokens: tuple[Any, ...], keys: Mapping[str, Any] | None, ignore_case: bool
             ) -> tuple[tuple[Any, ...], bool]:
    """(tokens with each resolvable variable replaced by its literal text and the others by STAR, all resolved?)."""
    out: list[Any] = []
    resolved = True
    for token in tokens:
        if isinstance(token, Variable):
            value = _value_of(token, keys)
            if value is None:
                resolved = False
                token = STAR  # stands for every value the variable could take
            else:
                token = value.lower() if ignore_case else value
        if isinstance(token, str) and out and isinstance(out[-1], str):
            out[-1] += token
        elif not (token is STAR and out and out[-1] is STAR):
            out.append(token)
    return tuple(out), resolved


# --- pattern against a value -------------------------------------------------------------------------

def _segments(tokens: tuple[Any, ...]) -> tuple[str, ...]:
    """The literal segments between the stars of a pattern of literals and stars (number of stars + 1)."""
    segments = [""]
    for token in tokens:
        if token is STAR:
            segments.append("")
        else:
            segments[-1] += token
    return tuple(segments)


def _match_segments(segments: tuple[str, ...], value: str) -> bool:
    if len(segments) == 1:
        return value == segments[0]
    first, last = segments[0], segments[-1]
    start, end = len(first), len(value) - len(last)
    if end < start or not value.startswith(first) or not value.endswith(last):
        return False
    for segment in segments[1:-1]:
        found = value.find(segment, start, end)
        if found < 0:
            return False
        start = found + len(segment)
    return True


class _PositionMasks(dict):
    """For one value: character -> bit mask of the positions that hold it (computed on first use)."""

    def __init__(self, value: str) -> None:
        super().__init__()
        self.value = value

    def __missing__(self, char: str) -> int:
        mask, value = 0, self.value
        i = value.find(char)
        while i >= 0:
            mask |= 1 << i
            i = value.find(char, i + 1)
        self[char] = mask
        return mask


def _suffix_or(row: int) -> int:
    """Bit j set when some bit k >= j of `row` is: a star may swallow any run."""
    return (1 << row.bit_length()) - 1 if row else 0


def _match_bits(tokens: tuple[Any, ...], value: str) -> bool:
    """Bit j of `row`: the pattern's remaining tokens match value[j:]. One shift and mask per pattern character."""
    masks = _PositionMasks(value)
    row = 1 << len(value)
    for token in reversed(tokens):
        if token is STAR:
            row = _suffix_or(row)
        elif token is ANY:
            row >>= 1
        else:
            for char in reversed(token):
                row = (row >> 1) & masks[char]
                if not row:
                    return False
        if not row:
            return False
    return bool(row & 1)


def _match_fixed(tokens: tuple[Any, ...], value: str) -> bool:
    """A pattern of literals and ``?`` only: one pass over the value."""
    i = 0
    for token in tokens:
        if token is ANY:
            i += 1
        elif not value.startswith(token, i):
            return False
        else:
            i += len(token)
    return i == len(value)


def _match_tokens(tokens: tuple[Any, ...], value: str) -> bool:
    if any(token is ANY for token in tokens):
        if any(token is STAR for token in tokens):
            return _match_bits(tokens, value)
        return _match_fixed(tokens, value)
    return _match_segments(_segments(tokens), value)


# --- pattern against pattern -------------------------------------------------------------------------

class _Query:
    """A request's name pattern (its ``*`` and ``?`` are wildcards, nothing else is special) as position masks."""

    __slots__ = ("size", "star", "any", "nonstar", "literal", "all_star")

    def __init__(self, text: str, ignore_case: bool) -> None:
        positions: list[Any] = []
        for token in _tokenize(text, variables=False, wildcards=True, ignore_case=ignore_case):
            positions.extend(token if isinstance(token, str) else (token,))
        self.size = len(positions)
        self.star = self.any = 0
        self.literal: dict[str, int] = {}
        for j, item in enumerate(positions):
            if item is STAR:
                self.star |= 1 << j
            elif item is ANY:
                self.any |= 1 << j
            else:
                self.literal[item] = self.literal.get(item, 0) | (1 << j)
        self.nonstar = ((1 << self.size) - 1) & ~self.star
        self.all_star = self.size == 1 and self.star == 1


@functools.lru_cache(maxsize=16384)
def _query(text: str, ignore_case: bool) -> _Query:
    return _Query(text, ignore_case)


def _covers(tokens: tuple[Any, ...], query: _Query) -> bool:
    """Every name `query` matches is matched by the pattern (sound; exact for the usual shapes: a pattern ``?`` is
    never taken to cover a query ``*``)."""
    row = 1 << query.size
    for token in reversed(tokens):
        if token is STAR:
            row = _suffix_or(row)
        elif token is ANY:
            row = (row >> 1) & query.nonstar
        else:
            for char in reversed(token):
                row = (row >> 1) & query.literal.get(char, 0)
                if not row:
                    return False
        if not row:
            return False
    return bool(row & 1)


def _overlaps(tokens: tuple[Any, ...], query: _Query) -> bool:
    """Some name is matched by both the pattern and `query` (exact)."""
    row = 1 << query.size
    j = query.size - 1
    while j >= 0 and query.star >> j & 1:  # the query's trailing star may match nothing
        row |= 1 << j
        j -= 1
    for token in reversed(tokens):
        if token is STAR:
            row = _suffix_or(row)
            continue
        for char in ((None,) if token is ANY else reversed(token)):
            compatible = query.nonstar if char is None else (query.any | query.literal.get(char, 0))
            advanced = (row >> 1) & compatible
            # At a query star (stars are collapsed: the next position is no star) the star may swallow this
            # character and stay (row), or end here (the next position's new value).
            row = advanced | (query.star & (row | (advanced >> 1)))
            if not row:
                return False
    return bool(row & 1)


# --- compiled patterns -------------------------------------------------------------------------------

class Wildcard:
    """One compiled IAM pattern. Build it with `compile_wildcard` (cached); ask `match`, `covers`, `overlaps`.

    Answers are True/False, or None when a policy variable the answer depends on cannot be resolved. `keys`
    arguments are the request's condition keys: lower-case names -> a string or a tuple of strings (anything
    else, such as the evaluator's UNKNOWN, counts as not knowable).
    """

    __slots__ = ("text", "ignore_case", "tokens", "literal", "prefix", "matches_all", "has_variables",
                 "_segments")

    def __init__(self, text: str, *, ignore_case: bool = False, variables: bool = False) -> None:
        self.text = text
        self.ignore_case = ignore_case
        self.tokens = _tokenize(text, variables=variables, wildcards=True, ignore_case=ignore_case)
        self.has_variables = any(isinstance(t, Variable) for t in self.tokens)
        #: the name itself when the pattern has neither wildcard nor variable
        self.literal: str | None = "".join(self.tokens) if all(isinstance(t, str) for t in self.tokens) else None
        self.matches_all = self.tokens == (STAR,)
        #: ``prefix`` for a pattern ``prefix*`` (nothing else special): one str.startswith
        self.prefix: str | None = None
        if self.matches_all:
            self.prefix = ""
        elif len(self.tokens) == 2 and isinstance(self.tokens[0], str) and self.tokens[1] is STAR:
            self.prefix = self.tokens[0]
        plain = not self.has_variables and not any(t is ANY for t in self.tokens)
        self._segments = _segments(self.tokens) if plain else None

    def __repr__(self) -> str:
        return f"Wildcard({self.text!r})"

    def _tokens_for(self, keys: Mapping[str, Any] | None) -> tuple[tuple[Any, ...], bool]:
        return (self.tokens, True) if not self.has_variables else _resolve(self.tokens, keys, self.ignore_case)

    def match(self, value: str, keys: Mapping[str, Any] | None = None) -> bool | None:
        """Whether the pattern matches the literal name `value`."""
        if self.ignore_case:
            value = value.lower()
        if self.literal is not None:
            return value == self.literal
        if self._segments is not None:
            return _match_segments(self._segments, value)
        if not self.has_variables:
            return _match_tokens(self.tokens, value)
        tokens, resolved = self._tokens_for(keys)
        if not _match_tokens(tokens, value):
            return False  # not even with `*` in place of the unresolved variables
        return True if resolved else None

    def covers(self, query: str, keys: Mapping[str, Any] | None = None) -> bool | None:
        """Every name the query pattern (a request's action or resource with ``*``/``?``) matches is matched."""
        if self.matches_all:
            return True
        tokens, resolved = self._tokens_for(keys)
        if not _covers(tokens, _query(query, self.ignore_case)):
            return False
        return True if resolved else None

    def overlaps(self, query: str, keys: Mapping[str, Any] | None = None) -> bool | None:
        """Some name is matched by both the pattern and the query pattern."""
        if self.matches_all:
            return True
        compiled = _query(query, self.ignore_case)
        tokens, resolved = self._tokens_for(keys)
        if not _overlaps(tokens, compiled):
            return False
        return True if resolved or compiled.all_star else None


@functools.lru_cache(maxsize=65536)
def compile_wildcard(text: str, *, ignore_case: bool = False, variables: bool = False) -> Wildcard:
    """The compiled pattern, cached: a policy's patterns are compiled once per process, whoever asks.
    ``ignore_case`` for action names; ``variables`` for Resource and string/ARN condition values of policies of
    Version 2012-10-17."""
    return Wildcard(text, ignore_case=ignore_case, variables=variables)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """A ``*``/``?`` pattern (no policy variables) against a literal value, e.g. an action name."""
    return bool(compile_wildcard(pattern, ignore_case=ignore_case).match(value))


@functools.lru_cache(maxsize=16384)
def _literal_tokens(text: str) -> tuple[Any, ...]:
    return _tokenize(text, variables=True, wildcards=False, ignore_case=False)


def needs_template(text: str) -> bool:
    """Whether a (2012-10-17) StringEquals-style value holds a policy variable or an escape such as ``${*}``."""
    return "${" in text and _literal_tokens(text) != (text,)


def literal_template(text: str, keys: Mapping[str, Any] | None) -> str | None:
    """A StringEquals-style value (``*`` and ``?`` are ordinary characters there) with its escapes and policy
    variables resolved; None when a variable cannot be resolved."""
    out = []
    for token in _literal_tokens(text):
        if isinstance(token, Variable):
            value = _value_of(token, keys)
            if value is None:
                return None
            out.append(value)
        else:
            out.append(token)
    return "".join(out)


def split_arn_pattern(text: str, *, variables: bool) -> list[str]:
    """An ARN pattern's six colon-separated components (a ``:`` inside ``${...}`` does not split); fewer when it
    is not an ARN. The last component keeps any further colons, as IAM's ARN operators do."""
    if not variables or "${" not in text:
        return text.split(":", 5)
    parts: list[str] = []
    start = i = 0
    while i < len(text) and len(parts) < 5:
        if text.startswith("${", i):
            found, after = _parse_variable(text, i)
            if found is not None:
                i = after
                continue
        if text[i] == ":":
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


# --- a policy element's patterns ---------------------------------------------------------------------

class WildcardSet:
    """The patterns of one Action/NotAction/Resource/NotResource element, compiled for many questions.

    Literal names go into a set and ``prefix*`` patterns into one tuple (a single `str.startswith` call); the rest
    stay `Wildcard` objects. With ``split_service`` (actions) a pattern whose service part is literal is filed
    under its service, so ``ec2:Describe*`` is only tried for ``ec2:`` actions, and a query pattern with a literal
    service (``aws-portal:*``) is compared with that service's patterns and those whose service part holds a
    wildcard, never with the others: no name starts with both ``ec2:`` and ``aws-portal:``. Literal and
    ``prefix*`` patterns (nearly all of an AWS managed policy's) are filed without being compiled; the compiled
    `patterns` that pattern-against-pattern questions need are built on first use.
    """

    __slots__ = ("texts", "matches_all", "exact", "prefixes", "by_service", "general", "split_service",
                 "ignore_case", "variables", "_anywhere", "_patterns", "_texts_by_service", "_patterns_by_service")

    def __init__(self, patterns: Iterable[str], *, ignore_case: bool = False, split_service: bool = False,
                 variables: bool = False) -> None:
        self.texts = tuple(patterns)
        self.split_service = split_service
        self.ignore_case = ignore_case
        self.variables = variables
        self.matches_all = False
        exact: set[str] = set()
        prefixes: dict[str | None, list[str]] = {}
        general: dict[str | None, list[Wildcard]] = {}
        for text in self.texts:
            shape = _simple_shape(text, ignore_case, variables)
            if shape is None:
                pattern = compile_wildcard(text, ignore_case=ignore_case, variables=variables)
                self.matches_all = self.matches_all or pattern.matches_all
                literal, prefix = pattern.literal, pattern.prefix
            else:
                literal, prefix = shape
                self.matches_all = self.matches_all or prefix == ""
            if literal is not None:
                exact.add(literal)
                continue
            service: str | None = None
            if prefix is not None:
                if split_service and ":" in prefix:
                    service, _, prefix = prefix.partition(":")
                prefixes.setdefault(service, []).append(prefix)
                continue
            if split_service and isinstance(pattern.tokens[0], str) and ":" in pattern.tokens[0]:
                service = pattern.tokens[0].partition(":")[0]
                pattern = compile_wildcard(pattern.text.partition(":")[2], ignore_case=ignore_case,
                                           variables=variables)
            if pattern.prefix is not None:
                prefixes.setdefault(service, []).append(pattern.prefix)
            else:
                general.setdefault(service, []).append(pattern)
        self.exact = frozenset(exact)
        self.prefixes = {s: tuple(p) for s, p in prefixes.items()}
        self.by_service = {s: tuple(p) for s, p in general.items() if s is not None}
        self.general = tuple(general.get(None, ()))
        self._anywhere = self.prefixes.pop(None, ())  # ``prefix*`` patterns tried on the whole name
        self._patterns: tuple[Wildcard, ...] | None = None
        # For pattern-against-pattern questions: the texts under their literal service (None: a wildcard comes
        # first), compiled per service when a question first needs them.
        self._texts_by_service: dict[str | None, list[str]] = {}
        for text in self.texts if split_service and not variables else ():
            self._texts_by_service.setdefault(_literal_service_of(text, ignore_case), []).append(text)
        self._patterns_by_service: dict[str | None, tuple[Wildcard, ...]] = {}

    @property
    def patterns(self) -> tuple[Wildcard, ...]:
        """Every pattern compiled (pattern-against-pattern questions)."""
        if self._patterns is None:
            self._patterns = tuple(self._compile(self.texts))
        return self._patterns

    def _compile(self, texts: Iterable[str]) -> list[Wildcard]:
        return [compile_wildcard(p, ignore_case=self.ignore_case, variables=self.variables) for p in texts]

    def _service_patterns(self, service: str | None) -> tuple[Wildcard, ...]:
        found = self._patterns_by_service.get(service)
        if found is None:
            found = self._patterns_by_service[service] = tuple(self._compile(self._texts_by_service.get(service, ())))
        return found

    def match(self, value: str, keys: Mapping[str, Any] | None = None) -> bool | None:
        """Whether some pattern matches the literal name `value` (lower-cased already for case-insensitive sets);
        None when none surely does but one depends on an unresolvable policy variable."""
        if self.matches_all or value in self.exact:
            return True
        if self._anywhere and value.startswith(self._anywhere):
            return True
        undecided = False
        for pattern in self.general:
            found = pattern.match(value, keys)
            if found:
                return True
            undecided = undecided or found is None
        if self.split_service:
            service, colon, name = value.partition(":")
            if colon:
                prefixes = self.prefixes.get(service)
                if prefixes and name.startswith(prefixes):
                    return True
                for pattern in self.by_service.get(service, ()):
                    found = pattern.match(name, keys)
                    if found:
                        return True
                    undecided = undecided or found is None
        return None if undecided else False

    def matching(self, values: Iterable[str]) -> frozenset[str]:
        """The values some pattern surely matches, ``{v for v in values if self.match(v)}`` in bulk: one set
        intersection for the literal names, and each ``prefix*`` tuple tried only on its own service's values."""
        values = frozenset(values)
        if self.matches_all:
            return values
        found = set(self.exact & values)
        rest = [v for v in values if v not in found]
        if self._anywhere:
            found.update(v for v in rest if v.startswith(self._anywhere))
        for pattern in self.general:
            found.update(v for v in rest if pattern.match(v) is True)
        if self.split_service and (self.prefixes or self.by_service):
            by_service: dict[str, list[tuple[str, str]]] = {}
            for value in rest:
                service, colon, name = value.partition(":")
                if colon and (service in self.prefixes or service in self.by_service):
                    by_service.setdefault(service, []).append((value, name))
            for service, named in by_service.items():
                prefixes = self.prefixes.get(service)
                if prefixes:
                    found.update(v for v, name in named if name.startswith(prefixes))
                for pattern in self.by_service.get(service, ()):
                    found.update(v for v, name in named if pattern.match(name) is True)
        return frozenset(found)

    def covers(self, query: str, keys: Mapping[str, Any] | None = None) -> bool | None:
        """Some one pattern covers every name the query pattern matches."""
        if self.matches_all:
            return True
        if not self.variables and query and not query.strip("*"):
            return False  # only a pattern of stars covers every name (a policy variable could stand for one)
        return _any3(p.covers(query, keys) for p in self._relevant(query))

    def overlaps(self, query: str, keys: Mapping[str, Any] | None = None) -> bool | None:
        """Some pattern and the query pattern match a common name."""
        return True if self.matches_all else _any3(p.overlaps(query, keys) for p in self._relevant(query))

    def _relevant(self, query: str) -> Iterable[Wildcard]:
        """The patterns that may share a name with the query pattern (all of them unless both sides name a service
        literally: then only that service's and those whose service part holds a wildcard)."""
        if not self.split_service or self.variables:
            return self.patterns
        service, colon, _ = (query.lower() if self.ignore_case else query).partition(":")
        if not colon or "*" in service or "?" in service:
            return self.patterns
        return self._service_patterns(service) + self._service_patterns(None)


def _literal_service_of(text: str, ignore_case: bool) -> str | None:
    """The service part of an action pattern whose names all start with ``service:`` (a colon comes before any
    wildcard), without compiling it; None when a wildcard comes first."""
    head = text[:min((i for i in (text.find("*"), text.find("?")) if i >= 0), default=len(text))]
    if ":" not in head:
        return None
    service = head.partition(":")[0]
    return service.lower() if ignore_case else service


def _simple_shape(text: str, ignore_case: bool, variables: bool) -> tuple[str | None, str | None] | None:
    """(literal, None) for a pattern without wildcards, (None, prefix) for ``prefix*`` (``""`` for ``*``), None
    for any other shape (then the pattern is compiled): what `Wildcard` would find, without tokenizing."""
    if "?" in text or (variables and "$" in text):
        return None
    head = text.rstrip("*")
    if "*" in head:
        return None
    head = head.lower() if ignore_case else head
    return (head, None) if len(head) == len(text) else (None, head)


def _any3(results: Iterable[bool | None]) -> bool | None:
    undecided = False
    for result in results:
        if result:
            return True
        undecided = undecided or result is None
    return None if undecided else False
