"""A worker process runs on one CPU, one no other worker on this host runs on.

The worker's threads (64 by default) share one interpreter lock, so the process runs Python on
one core at a time whatever the machine has. Left to the scheduler, its threads are spread over
every core, and each handover of the lock wakes a thread on another core: that core takes the
lock or loses it to a thread already running, and the loser sleeps again. On the bench's two
cores this cost the worker ~540 voluntary context switches per hand-raise; on one core, ~70,
and the same lead for about a fifth less CPU (README, "Performance choices"). The web process
is left to the scheduler: it answers people, and takes whichever core is free.

Workers on one host (`--worker-processes N`, replicas side by side, `hitl worker`) each take a
different CPU: the first free of an `flock`ed file per CPU in the temporary folder, held for
the process's life, so a killed worker's CPU is free for its replacement at once. When every
allowed CPU is taken, or only one is allowed, or the platform cannot pin (not Linux), the
worker runs where the scheduler puts it, as before. `HITL_WORKER_PIN_CPU=false` turns it off.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.settings import Settings

log = logging.getLogger(__name__)

LOCK_FOLDER = "hitl-worker-cpus"

# On one core, the interpreter's forced handover every 5 ms (Python's default) only trades one
# thread's warm caches for another's: the threads waiting have no other core to run on. The
# worker's work is background (no one waits on a 5 ms slice); a thread that blocks (the model,
# the database, Slack) still hands over at once. Pinned workers spent ~7% less CPU a lead.
PINNED_SWITCH_INTERVAL_S = 0.05

_held: list[int] = []  # the chosen CPU's lock, open for the life of the process


def pin_if_configured(settings: Settings, lock_folder: Path | None = None) -> int | None:
    """What a worker process does first (before it starts a thread): `pin_worker_to_a_cpu`
    unless HITL_WORKER_PIN_CPU is off."""
    return pin_worker_to_a_cpu(lock_folder) if settings.worker_pin_cpu else None


def pin_worker_to_a_cpu(lock_folder: Path | None = None) -> int | None:
    """Pin every thread of this process, and every thread it starts later, to one allowed CPU
    that no other pinned worker on this host holds; returns the CPU, or None if not pinned."""
    if not hasattr(os, "sched_setaffinity") or _held:
        return None
    allowed = sorted(os.sched_getaffinity(0), reverse=True)  # the last first: CPU 0 takes
    if len(allowed) < 2:                                      # most of the interrupts
        return None
    folder = lock_folder or Path(tempfile.gettempdir()) / LOCK_FOLDER
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        log.info("worker not pinned to a CPU: %s", exc)
        return None
    for cpu in allowed:
        fd = _take(folder / f"{cpu}.lock")
        if fd is None:
            continue
        _held.append(fd)
        _pin_threads(cpu)
        sys.setswitchinterval(PINNED_SWITCH_INTERVAL_S)
        log.info("worker pinned to CPU %d (its threads share one interpreter lock)", cpu)
        return cpu
    log.info("worker not pinned: every allowed CPU already runs a pinned worker")
    return None


def _take(path: Path) -> int | None:
    """An exclusive lock on `path` if nobody holds it (its open descriptor), else None."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _pin_threads(cpu: int) -> None:
    """Every thread that exists now (the affinity of the calling one is what later threads
    inherit)."""
    os.sched_setaffinity(0, {cpu})
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError):  # a thread may have ended since the listing
                os.sched_setaffinity(int(task), {cpu})
