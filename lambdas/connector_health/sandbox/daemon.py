"""Background sandbox process for `connector-health sandbox up` / `down`.

`up` starts `python -m connector_health.sandbox.daemon --dir DIR` detached, waits for DIR/ready.json and returns;
the process serves until SIGTERM (`down`). Everything it starts, it stops.

The default DIR is in the user's state directory (~/.local/state/connector-health/sandbox), not the temporary
directory: TMPDIR differs between shells (tmux, IDE terminals, sudo), and `down` must find what `up` started.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

def default_dir() -> Path:
    """Where `sandbox up` and `down` meet without --dir: under HOME, whatever TMPDIR says."""
    return Path.home() / ".local" / "state" / "connector-health" / "sandbox"


DEFAULT_DIR = default_dir()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def running_pid(directory: Path) -> int | None:
    try:
        pid = int((directory / "pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def up(directory: Path = DEFAULT_DIR, timeout: float | None = None, *, accounts: int = 0) -> dict[str, str]:
    """Start the background sandbox (or reuse a running one) and return its environment. `accounts`: also emulate
    an organisation of that many member accounts (seeding takes about 0.4 s per account)."""
    timeout = timeout if timeout is not None else 90.0 + accounts * 1.0
    directory.mkdir(parents=True, exist_ok=True)
    ready = directory / "ready.json"
    if running_pid(directory) and ready.exists():
        running = json.loads(ready.read_text())
        if int(running.get("CONNECTOR_HEALTH_SANDBOX_ACCOUNTS", "0")) != accounts:
            raise RuntimeError(f"a sandbox with {running.get('CONNECTOR_HEALTH_SANDBOX_ACCOUNTS', '0')} member "
                               f"account(s) is already running; stop it first with `connector-health sandbox down`")
        return running
    ready.unlink(missing_ok=True)
    log = open(directory / "sandbox.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector_health.sandbox.daemon", "--dir", str(directory), "--accounts", str(accounts)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists():
            return json.loads(ready.read_text())
        if proc.poll() is not None:
            raise RuntimeError(f"the sandbox process exited with status {proc.returncode}; see {directory / 'sandbox.log'}")
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"the sandbox did not become ready within {timeout:.0f}s; see {directory / 'sandbox.log'}")


def down(directory: Path = DEFAULT_DIR, timeout: float = 20.0) -> bool:
    """Stop the background sandbox. Returns False when none was running."""
    pid = running_pid(directory)
    (directory / "ready.json").unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.1)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def serve(directory: Path, accounts: int = 0) -> None:
    from . import Sandbox

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sandbox = Sandbox(directory / "state", accounts=accounts).start()
    try:
        (directory / "pid").write_text(str(os.getpid()))
        env = sandbox.env()
        if accounts:
            env["CONNECTOR_HEALTH_SANDBOX_ACCOUNTS"] = str(accounts)
            env["CONNECTOR_HEALTH_SANDBOX_ORG"] = str(sandbox.directory / "org.json")
        tmp = directory / "ready.json.tmp"
        tmp.write_text(json.dumps(env, indent=1))
        tmp.replace(directory / "ready.json")
        stop.wait()
    finally:
        sandbox.stop()
        (directory / "pid").unlink(missing_ok=True)
        (directory / "ready.json").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="connector_health.sandbox.daemon")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--accounts", type=int, default=0)
    args = parser.parse_args()
    serve(args.dir, args.accounts)


if __name__ == "__main__":
    main()
