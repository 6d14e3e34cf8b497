"""The local backend's files, readable by their owner only (issue 23).

The state directory holds raw dead letters (whatever a client sent, secrets included if a client sent
them), user ids and their histories: nothing another local account should read. Directories pue creates
are 0700, files 0600. SQLite gives its ``-wal`` and ``-shm`` files the mode of the database file, so a
database created 0600 keeps them 0600 too. A file an earlier pue left wider (0644) is narrowed when the
store opens it; an existing directory is left as it is (it may be one the user chose for other things,
``--state .``), the files in it are what is protected.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Final

DIRECTORY_MODE: Final = 0o700
FILE_MODE: Final = 0o600
_SQLITE_COMPANIONS: Final = ("-wal", "-shm", "-journal")


def private_directory(path: Path) -> None:
    """Create ``path`` (and its missing parents) 0700 when it does not exist."""
    if not path.is_dir():
        path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIRECTORY_MODE)  # mkdir's mode passes through the umask: say it exactly


def private_database(path: Path) -> None:
    """Create the SQLite file ``path`` 0600 before SQLite does (SQLite would use 0644 less the umask), or
    narrow it and its companions to 0600 when they are wider."""
    private_directory(path.parent)
    # Never open (and close) a descriptor on an existing database: closing ANY descriptor of a file drops
    # every POSIX lock this process holds on it, the locks SQLite's connections rely on
    # (sqlite.org/howtocorrupt.html, 2.2). pue serve opens the store more than once: another process then
    # took itself for the last connection, deleted the WAL, and the server's later commits went to a
    # deleted file. Only a file that does not exist yet is created here, exclusively.
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in _SQLITE_COMPANIONS)):
        narrow(candidate)


def narrow(path: Path) -> None:
    """Make an existing file 0600 if group or others have any access to it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if stat.S_IMODE(mode) & 0o077:
        try:
            os.chmod(path, FILE_MODE)
        except PermissionError:
            pass  # another account's file, opened to read: not ours to change


def create_private_file(path: Path) -> int:
    """A new file (``FileExistsError`` if it exists) opened for writing, 0600: its descriptor."""
    return os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
