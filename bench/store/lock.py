"""One writer per sweep folder: an exclusive lock the OS releases when the process dies.

`flock` on `<folder>/.lock`: kill -9 leaves nothing to clean up, since the lock
goes with the process. The holder writes its pid and start time into the file,
so a refused second writer can say who holds it.
"""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path


class FolderLocked(ValueError):
    """Another process is writing into this folder."""


class FolderLock:
    def __init__(self, folder: str | Path):
        self.path = Path(folder) / ".lock"
        self._fd: int | None = None

    def __enter__(self) -> "FolderLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise FolderLocked(f"{self.path.parent} is being written by {holder}: wait for it to finish, or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} (started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime())})\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None
