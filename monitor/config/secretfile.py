"""Reading a password file without trusting it: a small regular file, read with a deadline.

A ``password_file:`` may name anything: ``/dev/zero`` (an endless read that grows until
the kernel kills the process), a FIFO (a read that waits forever for a writer), a 2 GB
sparse file, a directory, or a file on a network mount that stopped answering.  So the
file is opened without blocking (``O_NONBLOCK``: a FIFO opens at once), must be a regular
file of at most `MAX_BYTES`, is read to at most one byte more than that, and all of it
happens in a daemon thread that `read_secret` stops waiting for after `TIMEOUT` seconds:
a read stuck in the kernel is abandoned (its thread ends with the process), never waited
on.  Errors say what is wrong with the file, never what is in it.

A file under /proc, /sys or /dev, named directly or through a symbolic link (the path is
resolved first), is refused: ``/proc/self/environ`` is a regular-looking file that would
send the monitor's whole environment to a camera as its password.  A file other users can
read is accepted with one warning (once per file and process): its owner and mode are the
operator's to check (README, "Passwords").
"""

from __future__ import annotations

import logging
import os
import stat
import threading

log = logging.getLogger("cctv.config")

MAX_BYTES = 4096  # a password, a token, even a PEM key fits; anything larger is a mistake
TIMEOUT = 2.0  # seconds; a local file is read in microseconds

#: Kernel and device file systems: never a password file.
FORBIDDEN = ("/proc", "/sys", "/dev")
_warned: set[str] = set()

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class SecretFileError(Exception):
    """What is wrong with the file (never its content), fit to follow its name."""


def _read(path: str, limit: int) -> bytes:
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)  # OSError (missing, no permission) goes to the caller
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a file")
            raise SecretFileError(f"is not a regular file ({kind})")
        if info.st_mode & stat.S_IROTH and path not in _warned:  # path: the resolved one
            _warned.add(path)
            log.warning("password file %s is readable by every user of this host (mode %o); "
                        "chmod 600 or 640 it", path, stat.S_IMODE(info.st_mode))
        if info.st_size > limit:
            raise SecretFileError(f"is larger than {limit} bytes ({info.st_size} bytes)")
        chunks = []
        size = 0
        while size <= limit:  # the size may change under us: never read past limit + 1
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise SecretFileError(f"is larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_secret(path: str, limit: int = MAX_BYTES, timeout: float | None = None) -> bytes:
    """The bytes of the small regular file at `path`; `SecretFileError` when it is not one,
    is too large or does not answer in time, `OSError` when it cannot be opened or read."""
    if timeout is None:
        timeout = TIMEOUT
    real = os.path.realpath(path)
    for top in FORBIDDEN:
        if real == top or real.startswith(top + "/"):
            via = f" (a link to {real})" if os.path.islink(path) else ""
            raise SecretFileError(f"is in {top}{via}: a kernel or device file, not a password "
                                  "file")
    outcome: list[object] = []
    done = threading.Event()

    def work() -> None:
        try:
            outcome.append(_read(real, limit))
        except Exception as exc:  # noqa: BLE001 - handed to the caller below
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=work, name="password-file", daemon=True).start()
    if not done.wait(timeout):
        raise SecretFileError(f"could not be read within {timeout:g}s")
    result = outcome[0]
    if isinstance(result, Exception):
        raise result
    assert isinstance(result, bytes)
    return result
