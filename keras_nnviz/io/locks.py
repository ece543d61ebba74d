"""Locks between processes: one writer at a time on a manifest, one fit per callback folder.

Two ``fit`` calls may write into one ``log_dir`` at once (two scripts, two notebooks, a tuner's
trials). :class:`FileLock` serializes the manifest's appends and compaction across processes;
:func:`claim_folder` gives each running callback a folder no other running fit writes to, so
frames of two runs never overwrite each other (the second gets ``<name>_2``).

``flock`` on POSIX (released by the kernel when a process dies, so a crashed run never leaves
a stale lock), ``msvcrt.locking`` on Windows, else an ``O_EXCL`` marker file holding the owner's
pid (stale when that process is gone).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

__all__ = [
    "claim_folder",
    "FileLock",
    "FolderClaim",
    "LOCK_DIR",
]

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt
except ImportError:  # POSIX
    msvcrt = None  # type: ignore[assignment]

LOCK_DIR = ".nnviz"  # hidden folder inside log_dir holding the lock files


class FileLock:
    """An exclusive lock on ``path`` between processes (and between threads of one process).

    Args:
        path: the lock file (created; its content is unused).

    Example:
        >>> with FileLock(Path("logs/.nnviz/manifest.lock")):
        ...     ...  # one writer at a time
    """

    _thread_locks: dict[str, threading.Lock] = {}
    _guard = threading.Lock()

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd: int | None = None
        self._marker: Path | None = None
        key = os.path.abspath(self.path)
        with FileLock._guard:
            self._thread_lock = FileLock._thread_locks.setdefault(key, threading.Lock())

    def acquire(self, timeout: float = 60.0) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (0: try once).

        Returns:
            True when held; False when another holder kept it for ``timeout``.

        Raises:
            OSError: the lock file cannot be created (read-only or full disk).
        """
        deadline = time.monotonic() + timeout
        waited = (
            self._thread_lock.acquire(timeout=timeout)
            if timeout > 0
            else self._thread_lock.acquire(blocking=False)
        )
        if not waited:
            return False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except BaseException:
            self._thread_lock.release()
            raise
        while True:
            try:
                if _try_lock(fd, self.path):
                    self._fd = fd
                    return True
            except BaseException:
                os.close(fd)
                self._thread_lock.release()
                raise
            if time.monotonic() >= deadline:
                os.close(fd)
                self._thread_lock.release()
                return False
            time.sleep(0.005)

    def release(self) -> None:
        """Release the lock (a no-op when not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            _unlock(fd, self.path)
        finally:
            os.close(fd)
            self._thread_lock.release()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FileLock:
        if not self.acquire():
            raise TimeoutError(
                errno.ETIMEDOUT, f"another process held {self.path} for 60 s", str(self.path)
            )
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    # A lock is runtime state: copies of a callback never share or hold one.
    def __deepcopy__(self, memo):
        return FileLock(self.path)

    def __getstate__(self):
        return {"path": self.path}

    def __setstate__(self, state):
        self.__init__(state["path"])


def _try_lock(fd: int, path: Path) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        return True
    if msvcrt is not None:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    return _try_marker(path)


def _unlock(fd: int, path: Path) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    elif msvcrt is not None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        path.with_name(path.name + ".held").unlink(missing_ok=True)


def _try_marker(path: Path) -> bool:
    """Fallback without flock or msvcrt: an O_EXCL marker naming its owner's pid."""
    marker = path.with_name(path.name + ".held")
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        try:
            owner = int(marker.read_text() or "0")
        except (OSError, ValueError):
            return False
        if owner and not _alive(owner):
            marker.unlink(missing_ok=True)  # its owner died: the lock is stale
        return False
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


# -- folders of running callbacks ---------------------------------------------------------------

_CLAIMED: dict[tuple[str, str], FileLock] = {}
_CLAIMED_LOCK = threading.Lock()


class FolderClaim:
    """A callback folder held by one running fit; :meth:`release` at its train end."""

    def __init__(self, log_dir: Path, name: str, lock: FileLock | None):
        self.log_dir, self.name, self._lock = log_dir, name, lock
        self._key = (os.path.abspath(log_dir), name)

    def release(self) -> None:
        """Free the folder (idempotent)."""
        lock, self._lock = self._lock, None
        if lock is None:
            return
        with _CLAIMED_LOCK:
            if _CLAIMED.get(self._key) is lock:
                del _CLAIMED[self._key]
        lock.release()


def claim_folder(log_dir: str | os.PathLike, name: str, limit: int = 1000) -> FolderClaim:
    """The first of ``name``, ``name_2``, ``name_3`` ... that no running fit writes to.

    Held until :meth:`FolderClaim.release` or the process ends. A folder that cannot be locked
    (no lock file can be created) is taken without a lock: writing goes on as before.

    Example:
        >>> claim_folder("logs", "weight_histograms").name   # another fit holds it
        'weight_histograms_2'
    """
    log_dir = Path(log_dir)
    for i in range(1, limit + 1):
        candidate = name if i == 1 else f"{name}_{i}"
        key = (os.path.abspath(log_dir), candidate)
        with _CLAIMED_LOCK:
            if key in _CLAIMED:
                continue  # held by a callback of this process
            lock = FileLock(log_dir / LOCK_DIR / f"folder-{candidate}.lock")
            try:
                got = lock.acquire(timeout=0)
            except OSError:
                return FolderClaim(log_dir, candidate, None)
            if got:
                _CLAIMED[key] = lock
                return FolderClaim(log_dir, candidate, lock)
    return FolderClaim(log_dir, name, None)
