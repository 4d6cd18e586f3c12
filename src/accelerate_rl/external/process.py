"""Running a program as a subprocess, safely.

* The argv is a list; nothing reaches a shell.
* The process runs in its own session (process group). On timeout, or on an exception
  in the caller (Ctrl-C included), the whole group gets SIGTERM, then SIGKILL after a
  grace period: no child outlives its run, even one that ignores SIGTERM.
* Output goes to files in the run directory (no pipe to fill up); the last lines are
  returned for error messages.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Seconds between SIGTERM and SIGKILL of a process group.
KILL_GRACE = 2.0


@dataclass
class ProcessOutcome:
    """What a finished (or killed) process left behind; ``elapsed`` in seconds."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    timed_out: bool


def tail(text: str, lines: int = 20) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.splitlines()[-lines:])


def resolve_executable(executable: str | Path | Sequence[str]) -> list[str]:
    """The argv head of ``executable``: a name on PATH, a path, or an argv list such as
    ``["xvfb-run", "-a", "TraceWin"]``; the first item resolved to an existing file.

    Raises:
        FileNotFoundError: naming the program and saying what to pass instead.
        ValueError: an empty argv list.
    """
    if isinstance(executable, (str, Path)):
        argv = [str(executable)]
    else:
        argv = [str(a) for a in executable]
        if not argv:
            raise ValueError("executable argv list is empty")
    first = argv[0]
    if "/" not in first:
        found = shutil.which(first)
        if found is None:
            raise FileNotFoundError(
                f"executable {first!r} not found on PATH: pass its path or an argv list "
                "(e.g. ['xvfb-run', '-a', 'TraceWin'])"
            )
        argv[0] = found
    elif not Path(first).is_file():
        raise FileNotFoundError(f"executable {first!r} does not exist")
    return argv


def kill_group(proc: subprocess.Popen, grace: float = KILL_GRACE) -> None:
    """SIGTERM the process group of ``proc``, SIGKILL it after ``grace`` seconds."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = proc.pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _group_alive(pgid):
                return
            time.sleep(0.02)
    proc.poll()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True


def run_process(
    argv: Sequence[str],
    cwd: str | Path,
    *,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    grace: float = KILL_GRACE,
) -> ProcessOutcome:
    """Run ``argv`` in ``cwd``; kill its whole process group on timeout [s].

    stdout and stderr are written to ``.stdout`` / ``.stderr`` files in ``cwd``.
    Raises FileNotFoundError / PermissionError when the executable cannot be started.
    """
    cwd = Path(cwd)
    argv = [str(a) for a in argv]
    out_path, err_path = cwd / ".stdout", cwd / ".stderr"
    start = time.monotonic()
    timed_out = False
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=None if env is None else dict(env),
            start_new_session=True,
        )
        try:
            while True:
                try:
                    proc.wait(timeout=0.05)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if timeout is not None and time.monotonic() - start > timeout:
                    timed_out = True
                    break
        finally:
            # also on KeyboardInterrupt or any error here: leave nothing running
            if proc.poll() is None or _group_alive(proc.pid):
                kill_group(proc, grace)
    elapsed = time.monotonic() - start
    stdout = out_path.read_bytes().decode("utf-8", errors="replace")
    stderr = err_path.read_bytes().decode("utf-8", errors="replace")
    rc = proc.returncode if proc.returncode is not None else -9
    return ProcessOutcome(argv, rc, stdout, stderr, elapsed, timed_out)
