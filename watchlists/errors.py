"""Errors of the watchlist: images refused, entries not found, enrollments refused, a store that cannot be used.

Every class carries a stable ``code`` that the CLI, the REST API and the audit log reuse, so an admin sees the same
name for a problem wherever it surfaces. Image problems are one family (``ImageRejectedError``) because enrollment
collects them per file and reports them together before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engines.errors import VigilError


class WatchlistError(VigilError):
    """Base of every error the watchlist raises on purpose."""

    code = "watchlist_error"


class ImageRejectedError(WatchlistError):
    """An image cannot be enrolled; the subclass says why."""

    code = "image_rejected"


class UnsupportedImageTypeError(ImageRejectedError):
    """The bytes are not JPEG, PNG, WebP or BMP (sniffed from the content, never from the file name)."""

    code = "unsupported_image_type"


class ImageTooLargeError(ImageRejectedError):
    """The encoded image is over the byte limit."""

    code = "image_too_large"


class TooManyPixelsError(ImageRejectedError):
    """The header claims more pixels than allowed: refused before decoding (decompression bombs)."""

    code = "too_many_pixels"


class CorruptImageError(ImageRejectedError):
    """The image is truncated or its data cannot be decoded."""

    code = "corrupt_image"


class UnreadableFileError(ImageRejectedError):
    """A given path is missing, not a file, or cannot be read."""

    code = "unreadable_file"


class EmptyFolderError(ImageRejectedError):
    """A given folder holds no image files (``.jpg``, ``.jpeg``, ``.png``, ``.webp``, ``.bmp``), at any depth."""

    code = "empty_folder"


class DuplicateImageError(WatchlistError):
    """The same image (by SHA-256) is already stored. Enrollment reports and skips such images rather than raising;
    this is raised when the database's own unique constraint refused one (a writer that bypassed the store)."""

    code = "duplicate_image"


class EntryNotFoundError(WatchlistError):
    """No entry has the given id (or id prefix)."""

    code = "entry_not_found"


class AmbiguousEntryIdError(WatchlistError):
    """An id prefix matches more than one entry."""

    code = "ambiguous_entry_id"


class InvalidEntryError(WatchlistError):
    """An entry's fields are unusable (empty label, threshold outside [-1, 1], bad camera name). Exit code 2."""

    code = "invalid_entry"
    exit_code = 2


class FacesNotAvailableError(WatchlistError):
    """Face entries need the face pipeline, which this build does not have yet."""

    code = "faces_not_available"


class NoNewImagesError(WatchlistError):
    """Every given image is already stored: an entry without images of its own could never match."""

    code = "no_new_images"


class NegativeConflictError(WatchlistError):
    """An entry's own reference image was given as its negative example: the entry would veto itself."""

    code = "negative_is_reference"


class LastImageError(WatchlistError):
    """Removing this reference image would leave its entry with none: remove the entry instead."""

    code = "last_image"


class ArchiveError(WatchlistError):
    """A watchlist export archive is unreadable, malformed, too large, or its contents do not match their SHA-256."""

    code = "bad_archive"


class EmbeddingMismatchError(WatchlistError):
    """An embedding has the wrong shape, is not finite, is not unit length, or its dimension differs from the
    dimension already stored for its model version."""

    code = "embedding_mismatch"


class StoreError(WatchlistError):
    """The watchlist database cannot be opened, reached, logged into or migrated (for example a schema newer than this
    build), or it refused a write (nothing of which was kept). Messages name the file or ``host:port/db``, never a
    password."""

    code = "store_error"


@dataclass(frozen=True)
class FileProblem:
    """Why one given file was refused.

    Attributes:
        source: the file (or folder) as found while expanding the sources, or an upload's name.
        code: the stable code of the ``ImageRejectedError`` subclass (``corrupt_image`` ...).
        reason: a sentence for a person.
    """

    source: str
    code: str
    reason: str


class ImagesRejectedError(WatchlistError):
    """One or more given files are not usable images; nothing was stored.

    Enrollment is all-or-nothing on purpose: an admin fixes or removes the listed files and runs the same command
    again, instead of ending up with an entry that silently lacks some of its reference images.

    Args:
        problems: every refused file with its reason, in the order the files were found.
        total: how many files were examined.
    """

    code = "images_rejected"

    def __init__(self, problems: Sequence[FileProblem], *, total: int) -> None:
        self.problems = tuple(problems)
        lines = [f"{len(self.problems)} of {total} files refused, nothing stored:"]
        lines += [f"  {p.source}: {p.reason} [{p.code}]" for p in self.problems]
        super().__init__("\n".join(lines))
