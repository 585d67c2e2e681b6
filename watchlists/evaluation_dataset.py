"""A labelled folder of photos for ``vigil eval``: which images are references, which are probes, which are strangers.

Layout: one subfolder per label (``DATASET/alice/*.jpg``, ``DATASET/fire/*.png``) and an optional ``_unknown/`` of
images that must match nobody. The first ``references`` images of each label, sorted by path, stand in for what an
admin would enroll; the rest are probes, what a camera would later see. The folder is checked before any model
loads, so a mistake in it costs milliseconds and every problem is named at once.

Example:
    >>> dataset = EvaluationDataset.read(Path("photos"), references=2)
    >>> dataset.labels, len(dataset.unknown)
    (('alice', 'bob'), 4)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from watchlists.errors import FileProblem, ImageTooLargeError, UnreadableFileError, WatchlistError
from watchlists.sources import expand_sources

UNKNOWN = "_unknown"
"""The subfolder of images that belong to no label: every match of one of them is a false accept."""


class DatasetError(WatchlistError):
    """An evaluation dataset cannot be used as laid out (missing, too few labels, a label without probes or without
    a usable reference); the message names the folder or label. Exit code 2."""

    code = "bad_dataset"
    exit_code = 2


@dataclass(frozen=True)
class LabelImages:
    """One label's image files, references first (sorted by path within each group)."""

    label: str
    references: tuple[Path, ...]
    probes: tuple[Path, ...]


@dataclass(frozen=True)
class EvaluationDataset:
    """A checked dataset folder.

    Attributes:
        root: the folder; reports name images relative to it.
        references_per_label: how many images of each label (the first by name) are references.
        per_label: per label (sorted by name) its references and probes.
        unknown: the images of ``_unknown/`` (empty when there is no such folder).
    """

    root: Path
    references_per_label: int
    per_label: tuple[LabelImages, ...]
    unknown: tuple[Path, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """The label names, sorted."""
        return tuple(group.label for group in self.per_label)

    def name(self, path: Path) -> str:
        """How reports show an image: its path relative to the dataset (``alice/002.jpg``)."""
        return path.relative_to(self.root).as_posix()

    @classmethod
    def read(cls, root: Path, *, references: int = 1) -> EvaluationDataset:
        """List the dataset's images and split each label into references and probes.

        Raises:
            DatasetError: ``root`` is not a folder, it holds fewer than two labels, or a label has no image left
                as a probe after its ``references`` (every such label is named).
        """
        if references < 1:
            raise DatasetError(f"--references must be at least 1, got {references}")
        if not root.is_dir():
            raise DatasetError(f"dataset {root} is not a folder (expected one subfolder of images per label)")
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        labelled = [folder for folder in folders if folder.name != UNKNOWN]
        if len(labelled) < 2:
            found = ", ".join(folder.name for folder in labelled) or "none"
            raise DatasetError(f"dataset {root} needs at least 2 label folders to tell apart, found {found}")
        groups = [_split(folder, references) for folder in labelled]
        short = [f"{g.label} ({_images_count(len(g.references))})" for g in groups if not g.probes]
        if short:
            raise DatasetError(
                f"with --references {references} these labels have no probe left: {', '.join(short)}; "
                "add images or lower --references"
            )
        unknown = root / UNKNOWN
        return cls(root, references, tuple(groups), tuple(_images(unknown)) if unknown.is_dir() else ())


def read_image_bytes(path: Path, *, max_bytes: int) -> bytes | FileProblem:
    """The file's bytes, or why it cannot be read (a file too large is refused before it is read)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return FileProblem(str(path), ImageTooLargeError.code, f"file is {size} bytes, the limit is {max_bytes}")
        return path.read_bytes()
    except OSError as exc:
        return FileProblem(str(path), UnreadableFileError.code, f"cannot be read: {exc.strerror or exc}")


def _images_count(count: int) -> str:
    return f"{count} image" if count == 1 else f"{count} images"


def _split(folder: Path, references: int) -> LabelImages:
    files = _images(folder)
    return LabelImages(folder.name, tuple(files[:references]), tuple(files[references:]))


def _images(folder: Path) -> list[Path]:
    files, _ = expand_sources([folder])  # an empty folder is simply a label without images
    return files
