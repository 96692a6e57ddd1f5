"""Benchmark: hostile inputs beside benign ones (issue 13).

1. Wildcard matching (`connector_health.policy.wildcards`): time per match of benign IAM patterns and of hostile
   ones (`*?*?…*!`, `*a*a…*!`) against long values, the pattern-vs-pattern questions of the permission checks, and
   one trust-policy evaluation with a hostile StringLike. Beside it, the previous regex translation of the same
   hostile pattern, run in a child process that is stopped after --regex-limit seconds.
2. Issuer fetch deadline: a host name with 16 addresses that never complete a TCP handshake (local listeners whose
   accept queue is full), inspected with timeout_seconds 2: how long until the inspection gives up.

    .venv/bin/python bench/hostile_bench.py [--runs 7] [--regex-limit 5]

Medians of --runs runs (min-max); each run times a batch of calls and reports the time per call.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambdas"))

from connector_health.collect.issuer import IssuerInspector  # noqa: E402
from connector_health.config import IssuerInspection  # noqa: E402
from connector_health.policy import RequestContext, evaluate, parse_policy  # noqa: E402
from connector_health.policy.wildcards import compile_wildcard  # noqa: E402

ARN = "arn:aws:iam::123456789012:role/" + "service-role/" * 150 + "x"  # a 2 KB ARN
CASES = [  # (label, kind, pattern, value or query, question)
    ("trust aud literal", "benign", "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479",
     "api://4d8bed1f-eee7-4d8e-b0dc-8462049a4479", "match"),
    ("session name prefix*", "benign", "MicrosoftDefenderForClouds_*",
     "MicrosoftDefenderForClouds_0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b", "match"),
    ("repo:acme/*:ref:*", "benign", "repo:acme/*:ref:refs/heads/*", "repo:acme/infra:ref:refs/heads/main", "match"),
    ("s3:Get?bject", "benign", "s3:get?bject", "s3:getobject", "match"),
    ("ARN glob, 2 KB ARN", "benign", "arn:aws:iam::*:role/service-role/*", ARN, "match"),
    ("*?x8 + ! vs 100 chars", "hostile", "*?" * 8 + "!", "a" * 100, "match"),
    ("*?x24 + ! vs 2 KB", "hostile", "*?" * 24 + "!", "a" * 2048, "match"),
    ("*?x200 + ! vs 2 KB", "hostile", "*?" * 200 + "!", "a" * 2048, "match"),
    ("*ax40 + ! vs 2 KB ARN", "hostile", "*a" * 40 + "!", ARN, "match"),
    ("(*a?)x30 + b vs 20 KB", "hostile", "*a?" * 30 + "b", "a" * 20000, "match"),
    ("! + *?x200 vs 2 KB (all states)", "hostile", "!" + "*?" * 200, "a" * 2048, "match"),
    ("*?x200 + b vs 2 KB (matches)", "hostile", "*?" * 200 + "b", "a" * 2047 + "b", "match"),
    ("covers: s3:* over s3:Get*", "benign", "s3:*", "s3:get*", "covers"),
    ("overlaps: *?x40 vs *ax40", "hostile", "*?" * 40 + "!", "*a" * 40 + "?", "overlaps"),
    ("covers: *?x40 vs 2 KB *a..", "hostile", "*?" * 40, "*a" * 1000, "covers"),
]


def _per_call(function, runs: int, budget: float = 0.2) -> tuple[float, float, float]:
    """(median, min, max) seconds per call over `runs` batches of about `budget` seconds each."""
    function()
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < budget / 4:
        function()
        n += 1
    batch = max(1, n * 4)
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(batch):
            function()
        samples.append((time.perf_counter() - t) / batch)
    return statistics.median(samples), min(samples), max(samples)


def _reference_regex(pattern: str) -> str:
    parts = re.split(r"(\*+|\?)", pattern)
    return "".join(".*" if p[:1] == "*" else "." if p == "?" else re.escape(p) for p in parts if p)


def _regex_child(pattern: str, value: str, out) -> None:
    compiled = re.compile(_reference_regex(pattern), re.DOTALL)
    compiled.fullmatch(value)  # warm
    started = time.perf_counter()
    compiled.fullmatch(value)
    out.send(time.perf_counter() - started)


def previous_regex_seconds(pattern: str, value: str, limit: float) -> str:
    """The previous translation's time for one match, or "> limit s" when it had not finished (child killed)."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_regex_child, args=(pattern, value, sender), daemon=True)
    child.start()
    finished = receiver.poll(limit)
    seconds = receiver.recv() if finished else None
    child.kill()
    child.join()
    return f"{seconds * 1e6:12.1f}" if seconds is not None else f"  > {limit:.0f} s".rjust(12)


def _fmt(stats: tuple[float, float, float]) -> str:
    median, low, high = stats
    return f"{median * 1e6:10.2f} {low * 1e6:8.2f}-{high * 1e6:<9.2f}"


def bench_patterns(runs: int, regex_limit: float) -> None:
    print(f"wildcard matcher: microseconds per call, median of {runs} batches (min-max); previous = the regex "
          f"translation of the same pattern (compiled beforehand), one call, stopped after {regex_limit:.0f} s")
    print(f"{'case':32} {'kind':8} {'median us':>10} {'min-max us':17} {'previous us':>12}")
    for label, kind, pattern, value, question in CASES:
        compiled = compile_wildcard(pattern)
        ask = getattr(compiled, question)
        stats = _per_call(lambda: ask(value), runs)
        previous = previous_regex_seconds(pattern, value, regex_limit) if question == "match" else "-".rjust(12)
        print(f"{label:32} {kind:8} {_fmt(stats)} {previous}")
    hostile = "*?" * 24 + "!"
    trust = parse_policy({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/issuer"},
        "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringLike": {"issuer:sub": hostile}}}]},
        require_principal=True)
    request = RequestContext(action="sts:AssumeRoleWithWebIdentity", principal=("Federated", "arn:aws:iam::1:oidc-provider/issuer"),
                             keys={"issuer:sub": "repo:" + "a" * 200})
    stats = _per_call(lambda: evaluate([trust], request, assume="allow"), runs)
    previous = previous_regex_seconds(hostile, "repo:" + "a" * 200, regex_limit)
    print(f"{'trust policy, StringLike *?x24!':32} {'hostile':8} {_fmt(stats)} {previous}")


def bench_deadline(runs: int) -> None:
    listeners, fillers = [], []
    for n in range(2, 18):
        sock = socket.socket()
        sock.bind((f"127.0.0.{n}", 0))
        sock.listen(0)
        listeners.append(sock)
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(sock.getsockname())
            fillers.append(filler)
    addresses = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", s.getsockname()) for s in listeners]
    real = socket.getaddrinfo
    socket.getaddrinfo = lambda host, *a, **k: addresses if host == "blackhole.test" else real(host, *a, **k)
    samples = []
    try:
        for _ in range(runs):
            inspector = IssuerInspector(IssuerInspection(timeout_seconds=2.0, allow_private_addresses=True))
            started = time.monotonic()
            inspector.inspect(f"https://blackhole.test:{listeners[0].getsockname()[1]}/")
            samples.append(time.monotonic() - started)
    finally:
        socket.getaddrinfo = real
        for sock in fillers + listeners:
            sock.close()
    print(f"\nissuer inspection of a name with 16 unreachable addresses, timeout_seconds 2 (deadline 2 s): gave up "
          f"after {statistics.median(samples):.2f} s median of {runs} ({min(samples):.2f}-{max(samples):.2f}); "
          f"before issue 13: one full timeout per address, 32 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--regex-limit", type=float, default=5.0)
    parser.add_argument("--deadline-runs", type=int, default=3)
    args = parser.parse_args()
    print(f"connector-health hostile-input bench: {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    bench_patterns(args.runs, args.regex_limit)
    bench_deadline(args.deadline_runs)


if __name__ == "__main__":
    main()
