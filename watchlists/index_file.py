"""A watchlist index saved to disk, so a restart loads it instead of re-reading and retraining every vector.

One file per (kind, model version) in the index folder. It holds a JSON header (format, kind, model version, the
store's identity and revision, the layout's training size and probe table) then FAISS's own serialisation of the
vectors, then a CRC-32 of both. A file is written beside its final name and moved into place with ``os.replace``,
so a reader sees the old file or the new one, never half of one. Loading checks the CRC before FAISS parses a byte,
then the header against what the caller expects; any mismatch raises ``IndexFileError`` naming it, and the caller
rebuilds from the store. The file never decides what the index holds: the store does (the caller syncs from it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import faiss

from engines.atomic_write import replaced_on_success
from watchlists.errors import WatchlistError
from watchlists.index_probes import ProbeTable
from watchlists.index_vectors import VectorIndex

MAGIC = b"VIGILIX1"
FORMAT = 1
_LENGTH = struct.Struct("<I")
_CHUNK = 1 << 22


class IndexFileError(WatchlistError):
    """A saved index cannot be used (missing, corrupt, or saved for another watchlist or model)."""

    code = "index_file_unusable"


@dataclass(frozen=True)
class IndexFileHeader:
    """What a saved index was saved from; checked against the store before the file is used."""

    kind: str
    model_version: str
    store_identity: str
    revision: int
    dim: int
    count: int
    trained_on: int = 0
    probe_thresholds: tuple[float, ...] = ()
    probes: tuple[int, ...] = ()
    format: int = FORMAT


def index_path(folder: Path, kind: str, model_version: str) -> Path:
    """The file of (kind, model version): readable name, plus a hash so two versions never share a file."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", model_version)[:80]
    digest = hashlib.sha256(model_version.encode()).hexdigest()[:12]
    return folder / f"{kind}-{readable}-{digest}.faiss"


def save_index(path: Path, header: IndexFileHeader, vectors: VectorIndex) -> int:
    """Write ``vectors`` with ``header`` atomically and durably (``engines.atomic_write``); the bytes written."""
    meta = json.dumps(asdict(header), sort_keys=True).encode()
    # private: face vectors are biometric data
    with replaced_on_success(path, durable=True, private=True) as temporary, open(temporary, "wb") as out:
        out.write(MAGIC + _LENGTH.pack(len(meta)) + meta)
        crc = zlib.crc32(meta)

        def write(chunk: bytes) -> int:
            nonlocal crc
            crc = zlib.crc32(chunk, crc)
            return out.write(chunk)

        faiss.write_index(vectors.index, faiss.PyCallbackIOWriter(write, _CHUNK))
        out.write(_LENGTH.pack(crc) + MAGIC)
        return out.tell()


def load_index(path: Path, expected: IndexFileHeader) -> tuple[IndexFileHeader, VectorIndex]:
    """Read a saved index made for the same kind, model and store, at a revision the store has reached.

    ``expected`` carries the kind, model version, store identity, the store's current revision (the file's may be
    older: the caller applies the difference, but never newer) and the model's dimension (0 when unknown).

    Raises:
        IndexFileError: the file is missing, truncated, corrupt, or was saved for something else.
    """
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            header, start = _read_header(file, size, path)
            _check_header(header, expected, path)
            _check_crc(file, size, path)
            file.seek(start)
            remaining = size - len(MAGIC) - _LENGTH.size - start

            def read(n: int) -> bytes:
                nonlocal remaining
                chunk = file.read(min(n, remaining))
                remaining -= len(chunk)
                return chunk

            index = faiss.read_index(faiss.PyCallbackIOReader(read, _CHUNK))
    except FileNotFoundError:
        raise IndexFileError(f"no saved index at {path}") from None
    except (OSError, RuntimeError, ValueError) as exc:  # FAISS raises RuntimeError on data it cannot parse
        raise IndexFileError(f"saved index {path} is unreadable: {exc}") from None
    if int(index.ntotal) != header.count or int(index.d) != header.dim:
        raise IndexFileError(f"saved index {path} holds {index.ntotal} x {index.d}-d, its header says otherwise")
    probes = None
    if header.trained_on:
        nlist = int(faiss.extract_index_ivf(index).nlist)
        probes = ProbeTable(nlist, tuple(header.probe_thresholds), tuple(header.probes))
    return header, VectorIndex(index, trained_on=header.trained_on, probes=probes)


def _read_header(file: BinaryIO, size: int, path: Path) -> tuple[IndexFileHeader, int]:
    lead = file.read(len(MAGIC) + _LENGTH.size)
    if lead[: len(MAGIC)] != MAGIC or size < 2 * len(MAGIC) + 2 * _LENGTH.size:
        raise IndexFileError(f"{path} is not a saved watchlist index (wrong magic or too short)")
    (length,) = _LENGTH.unpack(lead[len(MAGIC) :])
    if len(lead) + length + _LENGTH.size + len(MAGIC) > size:
        raise IndexFileError(f"saved index {path} is truncated (a {length}-byte header in a {size}-byte file)")
    try:
        fields = json.loads(file.read(length))
        fields["probe_thresholds"] = tuple(fields.get("probe_thresholds", ()))
        fields["probes"] = tuple(fields.get("probes", ()))
        return IndexFileHeader(**fields), len(MAGIC) + _LENGTH.size + length
    except (ValueError, TypeError) as exc:
        raise IndexFileError(f"{path} has an unreadable header: {exc}") from None


def _check_header(found: IndexFileHeader, expected: IndexFileHeader, path: Path) -> None:
    """Refuse a file of another format, kind, model, store, or from a revision the store has not reached."""
    for name in ("format", "kind", "model_version", "store_identity"):
        if getattr(found, name) != getattr(expected, name):
            mismatch = f"{name} {getattr(found, name)!r}, expected {getattr(expected, name)!r}"
            raise IndexFileError(f"saved index {path} is for another watchlist or model: {mismatch}")
    if found.revision > expected.revision:
        raise IndexFileError(
            f"saved index {path} is from revision {found.revision}, ahead of the store's {expected.revision}"
            " (a restored or replaced database)"
        )
    if expected.dim and found.dim != expected.dim:
        raise IndexFileError(f"saved index {path} has {found.dim}-d vectors, the model {expected.dim}-d")


def _check_crc(file: BinaryIO, size: int, path: Path) -> None:
    """Check the trailer's CRC over header and vectors before FAISS parses anything (a flipped length byte could
    otherwise make it allocate gigabytes)."""
    file.seek(size - len(MAGIC) - _LENGTH.size)
    trailer = file.read(_LENGTH.size + len(MAGIC))
    if trailer[_LENGTH.size :] != MAGIC:
        raise IndexFileError(f"saved index {path} is truncated (no trailer)")
    file.seek(len(MAGIC) + _LENGTH.size)
    crc, remaining = 0, size - len(MAGIC) - _LENGTH.size - len(trailer)
    while remaining > 0:
        chunk = file.read(min(_CHUNK, remaining))
        if not chunk:
            break
        crc, remaining = zlib.crc32(chunk, crc), remaining - len(chunk)
    if remaining or crc != _LENGTH.unpack(trailer[: _LENGTH.size])[0]:
        raise IndexFileError(f"saved index {path} is corrupt (checksum mismatch)")
