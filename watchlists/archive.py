"""The watchlist export format: one zip file, a JSON manifest plus every image's original bytes.

```
manifest.json          {"format": "vigil-watchlist", "version": 1, "exported_at": ..., "entries": [...]}
images/<sha256>        the bytes as enrolled (references and negatives alike), stored uncompressed
```

Embeddings are deliberately not exported: the importing node re-embeds with *its* model, so an archive stays valid
across model changes. Reading treats the file as untrusted: the manifest is validated field by field, members are
read with a byte cap whatever their header claims (zip bombs), and every image must hash to the SHA-256 it is
filed under, or the whole archive is refused before anything is imported.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engines.atomic_write import replaced_on_success
from watchlists.errors import ArchiveError
from watchlists.images import DEFAULT_MAX_BYTES

FORMAT = "vigil-watchlist"
VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArchivedImage(_Strict):
    """One image of an entry in the archive; its bytes are the member ``images/<sha256>``."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    media_type: str
    source: str = ""

    @property
    def member(self) -> str:
        """The zip member holding the bytes."""
        return f"images/{self.sha256}"


class ArchivedEntry(_Strict):
    """One entry as exported: its fields, its references and its negative examples."""

    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    kind: Literal["face", "anomaly"]
    label: str = Field(min_length=1)
    notes: str = ""
    threshold: float | None = Field(None, ge=-1.0, le=1.0)
    cameras: tuple[str, ...] = ()
    enabled: bool = True
    created_at: datetime
    images: tuple[ArchivedImage, ...] = Field(min_length=1)
    negatives: tuple[ArchivedImage, ...] = ()


class ArchiveManifest(_Strict):
    """The archive's table of contents (``manifest.json``)."""

    format: Literal["vigil-watchlist"] = FORMAT
    version: Literal[1] = VERSION
    exported_at: datetime
    node: str = ""
    entries: tuple[ArchivedEntry, ...] = ()


@contextmanager
def writing_archive(path: Path) -> Iterator[zipfile.ZipFile]:
    """A zip open for writing that appears at ``path`` only when complete (written beside it, then renamed).

    The caller writes the images, then the manifest last: a crash leaves no archive rather than a half one.
    """
    with (
        replaced_on_success(path, private=True) as temporary,  # the watchlist's photos: their owner's only
        zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_STORED) as archive,
    ):
        yield archive


def write_member(archive: zipfile.ZipFile, name: str, data: bytes, *, compress: bool = False) -> None:
    """Add one member (images stay as they are: they are compressed already)."""
    archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)


class ArchiveReader:
    """An export archive opened for import, its manifest validated.

    Args:
        path: the archive file.
        max_image_bytes: refuse any image member larger than this, whatever its header says.

    Raises:
        ArchiveError: not a zip, no or invalid manifest, or an image the manifest names is missing.
    """

    def __init__(self, path: Path, *, max_image_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self._max_image_bytes = max_image_bytes
        try:
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise ArchiveError(f"{path}: file not found") from None
        except (OSError, zipfile.BadZipFile) as exc:
            raise ArchiveError(f"{path} is not a watchlist archive (not a zip file: {exc})") from None
        try:
            self.manifest = self._read_manifest()
            self._check_members()
        except BaseException:
            self._zip.close()
            raise

    def close(self) -> None:
        """Close the file."""
        self._zip.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def image_bytes(self, image: ArchivedImage) -> bytes:
        """The bytes of one image, read with a cap and checked against their SHA-256.

        Raises:
            ArchiveError: the member is over the cap, unreadable, or does not hash to ``image.sha256``.
        """
        try:
            with self._zip.open(image.member) as member:
                data = member.read(self._max_image_bytes + 1)
        except (OSError, zipfile.BadZipFile, RuntimeError) as exc:
            raise ArchiveError(f"{self.path}: {image.member} cannot be read: {exc}") from None
        if len(data) > self._max_image_bytes:
            raise ArchiveError(f"{self.path}: {image.member} is over the {self._max_image_bytes}-byte image limit")
        if hashlib.sha256(data).hexdigest() != image.sha256:
            raise ArchiveError(f"{self.path}: {image.member} does not match its SHA-256; the archive is damaged")
        return data

    def _read_manifest(self) -> ArchiveManifest:
        try:
            info = self._zip.getinfo(MANIFEST)
        except KeyError:
            raise ArchiveError(f"{self.path} has no {MANIFEST}: not a watchlist archive") from None
        if info.file_size > MAX_MANIFEST_BYTES:
            raise ArchiveError(f"{self.path}: {MANIFEST} is {info.file_size} bytes, over {MAX_MANIFEST_BYTES}")
        try:
            with self._zip.open(info) as member:
                text = member.read(MAX_MANIFEST_BYTES + 1)
            return ArchiveManifest.model_validate_json(text)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            raise ArchiveError(f"{self.path}: invalid {MANIFEST}: {problems}") from None
        except (OSError, zipfile.BadZipFile, RuntimeError) as exc:
            raise ArchiveError(f"{self.path}: {MANIFEST} cannot be read: {exc}") from None

    def _check_members(self) -> None:
        names = set(self._zip.namelist())
        ids = [entry.id for entry in self.manifest.entries]
        if len(set(ids)) != len(ids):
            raise ArchiveError(f"{self.path}: the manifest lists an entry id twice")
        for entry in self.manifest.entries:
            for image in (*entry.images, *entry.negatives):
                if image.member not in names:
                    raise ArchiveError(f"{self.path}: entry {entry.id} names {image.member}, missing from the archive")
