"""Password hashing that gives way to every other request the server answers.

Checking a password is Django's PBKDF2 (SHA-256, 1.5 million rounds): a few hundred milliseconds of
one core, on purpose. During a brute force the one check at a time that the login gate lets through
competes for the cores with the other players' requests and the answers to the refused attempts.

`LowPriorityPBKDF2PasswordHasher` is Django's PBKDF2 hasher unchanged (same algorithm name, rounds,
salt and stored format: every existing hash stays valid, nothing is weakened), except that the
rounds run in a short-lived thread at the lowest CPU priority (niceness 19) while the calling
thread waits for it. Any runnable thread of normal priority on that core is run first, so a hash
uses only the CPU that nothing else wants. Every password check goes through the hasher (the
players' /login/, the admin's, the timing-equalising hash for an unknown account, `set_password`),
so all of them yield.

The price: while the server is saturated by normal-priority work, a login waits for a lull. Its
worker is held meanwhile, and gunicorn ends a request that takes longer than its timeout (30 s).

Linux lets a thread lower its own priority (a niceness is per thread there). Elsewhere the rounds
run in the calling thread at its priority, as Django does.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable

from django.contrib.auth.hashers import PBKDF2PasswordHasher

LOWEST_PRIORITY = 19  # the highest niceness Linux has
PER_THREAD_PRIORITY = sys.platform == "linux"


def at_lowest_priority[T](work: Callable[..., T], *args: object) -> T:
    """work(*args), computed in a thread of niceness 19 while this thread waits: its result, or
    its exception raised here. The GIL is no obstacle: hashlib releases it during the rounds."""
    if not PER_THREAD_PRIORITY:
        return work(*args)
    outcome: dict[str, object] = {}

    def run() -> None:
        with contextlib.suppress(OSError):  # not allowed here (a sandbox): hash all the same
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)
        try:
            outcome["result"] = work(*args)
        except BaseException as error:  # handed to the waiting thread, raised there
            outcome["error"] = error

    thread = threading.Thread(target=run, name="password-hash", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


class LowPriorityPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Django's PBKDF2PasswordHasher, its rounds at the lowest CPU priority (see the module).
    Checking (`verify`) and the timing padding (`harden_runtime`) both go through `encode`."""

    def encode(self, password: str, salt: str, iterations: int | None = None) -> str:
        return at_lowest_priority(super().encode, password, salt, iterations)
