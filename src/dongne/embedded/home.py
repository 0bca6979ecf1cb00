"""The data directory shared by the embedded servers, and its owner lock."""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path
from types import TracebackType

# Unix socket paths are limited to 107 bytes; deep homes put sockets in a short
# per-home directory under the system temp dir instead.
_MAX_SOCKET_PATH = 100


class HomeInUseError(RuntimeError):
    """Another dongne process already owns this home."""


class HomeLock:
    """An exclusive, crash-safe claim on a home: the kernel drops it when the owner dies."""

    def __init__(self, home: Path) -> None:
        self.path = home / "dongne.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise HomeInUseError(
                f"{self.path.parent} is already in use by dongne (pid {owner}); "
                "stop that process first or set DONGNE_HOME to another directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> HomeLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def socket_dir(home: Path) -> Path:
    """Directory for the servers' unix sockets, short enough for the kernel's limit."""
    preferred = home.resolve() / "run"
    if len(str(preferred / ".s.PGSQL.5432.lock")) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"dongne-{digest}"
