"""Child processes die with their parent, however the parent dies (issue 11, point 6).

A SIGKILL gives the parent no chance to stop its children, and the HTTPS server runs in its own
session (so a terminal's Ctrl-C reaches only `serve`): without this it went on serving as an
orphan. Linux's parent-death signal (prctl PR_SET_PDEATHSIG) is sent by the kernel when the parent
exits; it survives exec, so it can be set between fork and exec (`preexec_fn`) or first thing in
the child. If the parent died before the call, nothing would ever be sent: hence the check that
the parent is still the expected one right after.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """Ask the kernel for `sig` when our parent exits; exit now if `parent_pid` is already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # re-parented to init or a subreaper: the parent is dead
        os._exit(1)


def preexec_die_with(parent_pid: int, sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn` for subprocess: the child (before exec) dies with `parent_pid`. Only for
    single-threaded parents (preexec_fn is unsafe with threads); others tell the child their pid."""
    return lambda: die_with_parent(parent_pid, sig)


def main(argv: list[str] | None = None) -> None:
    """`python -m core.processes.lifeline --parent-pid PID -- COMMAND...`: COMMAND (a program that knows
    nothing of us, e.g. Kamailio) run in our place, with the parent-death signal already set."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 4 or args[0] != "--parent-pid" or args[2] != "--":
        raise SystemExit("usage: python -m core.processes.lifeline --parent-pid PID -- COMMAND [ARG...]")
    die_with_parent(int(args[1]))
    os.execvp(args[3], args[3:])  # the signal survives exec


if __name__ == "__main__":
    main()
