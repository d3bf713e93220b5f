"""Child processes that die with dsim, however dsim dies.

dsim stops every Envoy it starts when it exits, is interrupted or is sent SIGTERM; SIGKILL and the
kernel's out-of-memory killer give it no chance to. Linux's ``PR_SET_PDEATHSIG`` has the kernel
send the child SIGKILL when its parent goes, but it must be set in the child. ``preexec_fn`` would
run Python in a child forked from a process whose gRPC threads may hold locks, so the child is
started instead through a small launcher: a fresh, single-threaded Python that sets the signal and
then replaces itself with the command (same process id, so stopping it stops the command).
"""

from __future__ import annotations

import os
import sys

# The launcher: argv[1] is the parent's pid, the rest the command. PR_SET_PDEATHSIG (1) with SIGKILL
# (9). The signal is tied to the thread that started the child; dsim waits for its Envoy in that
# thread, so the thread outlives it. If the parent died before the signal was set, the launcher's
# parent is no longer it: exit rather than run unwatched. Where prctl does not exist (not Linux),
# the command runs as plainly as it would have.
_LAUNCHER = """
import ctypes, os, sys
prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
if prctl is not None:
    prctl(1, 9)
    if os.getppid() != int(sys.argv[1]):
        sys.exit(1)
os.execv(sys.argv[2], sys.argv[2:])
"""


def tied_to_this_process(command: list[str]) -> list[str]:
    """``command`` run so that the kernel kills it when this process ends (Linux; elsewhere as is).
    ``command[0]`` is a path to the executable (the launcher searches no ``PATH``), made absolute
    here so that a child started in another directory still finds it."""
    return [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(os.getpid()), os.path.abspath(command[0]), *command[1:]]
