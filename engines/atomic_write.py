"""Files that appear whole or not at all.

Exported models, engine plans, index files, caches, thumbnails and token files are read by other threads and
processes while they are written, and a crash or a full disk must not leave half a file under the final name. Each is
written beside its final name under a temporary one, then renamed over it: a rename within a folder is atomic.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replaced_on_success(target: Path, *, durable: bool = False, private: bool = False) -> Iterator[Path]:
    """A temporary path beside ``target`` for the block to write; renamed to ``target`` when the block ends without
    an exception, removed in any case.

    The temporary name is unique (two processes may write the same target at once; the last rename wins) and starts
    with a dot and ends in ``.tmp``, so folder scans for the real files skip it. By default the block creates it with
    the process's usual permissions, so a file another user must read stays readable.

    Args:
        durable: also flush the file and its folder to disk (``fsync``), for data that must survive a power cut.
        private: create the file readable by its owner only before the block writes a byte (tokens, face vectors,
            exported photos); writing it does not change its permissions.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        if private:
            temporary.touch(mode=0o600)
        yield temporary
        if durable:
            _fsync(temporary)
        os.replace(temporary, target)
        if durable:
            with contextlib.suppress(OSError):  # the rename itself (POSIX); some filesystems cannot open folders
                _fsync(target.parent)
    finally:
        temporary.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
