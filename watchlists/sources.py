"""Reference image files for enrollment: folders expanded, every file checked, before anything is embedded.

Checking everything first is what lets enrollment be all-or-nothing with a useful report: an admin sees every bad
file at once, with its reason, and the model is not even loaded when one is bad. Only the encoded bytes are kept
(the store needs them anyway); pixels are decoded again batch by batch when embedding, which bounds memory to one
batch of decoded images however large the folder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from watchlists.errors import EmptyFolderError, FileProblem, ImageRejectedError, ImagesRejectedError
from watchlists.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, decode_image, read_image_file

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
"""Files a folder contributes. A file named explicitly is examined whatever its name: its type is sniffed."""


@dataclass(frozen=True)
class CheckedImage:
    """An image that decoded cleanly within the limits, ready to embed.

    Attributes:
        source: where it came from: the file as found, or an upload's name; shown in reports and stored.
        data: its bytes, as read at check time (what is embedded and stored, even if the file changes later).
    """

    source: str
    data: bytes = field(repr=False)
    sha256: str
    media_type: str
    width: int
    height: int


def check_image_bytes(
    source: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS
) -> CheckedImage:
    """Check one image given as bytes (an upload). Raises the ``ImageRejectedError`` that says why not."""
    image = decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    return CheckedImage(source, image.data, image.sha256, image.media_type, image.width, image.height)


def expand_sources(sources: Sequence[Path]) -> tuple[list[Path], list[FileProblem]]:
    """Files named directly, plus image files under folders (recursively, hidden ones skipped, sorted).

    Returns:
        The files in the order given (each once), and the folders that held no image file.
    """
    files: list[Path] = []
    problems: list[FileProblem] = []
    for source in sources:
        if not source.is_dir():
            files.append(source)
            continue
        found = sorted(
            path
            for path in source.rglob("*")
            if path.suffix.lower() in IMAGE_SUFFIXES
            and not any(part.startswith(".") for part in path.relative_to(source).parts)
            and path.is_file()
        )
        if not found:
            problems.append(FileProblem(str(source), EmptyFolderError.code, "folder holds no image files"))
        files.extend(found)
    return list(dict.fromkeys(files)), problems


def check_images(
    sources: Sequence[Path],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_file: Callable[[Path], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> list[CheckedImage]:
    """Expand the sources and check every file; refuse them all if any one is bad.

    Args:
        sources: image files and folders.
        max_bytes: per-file byte limit.
        max_pixels: per-image pixel limit, checked before decoding.
        on_file: called after each file is checked (progress display).
        on_total: called once the folders are expanded, with the number of files to check (progress display).

    Raises:
        ImagesRejectedError: every refused file and folder with its reason; nothing is returned.
    """
    files, problems = expand_sources(sources)
    examined = len(files) + len(problems)  # files, and folders that turned out empty
    if on_total is not None:
        on_total(len(files))
    checked: list[CheckedImage] = []
    for path in files:
        try:
            image = read_image_file(path, max_bytes=max_bytes, max_pixels=max_pixels)
        except ImageRejectedError as exc:
            problems.append(FileProblem(str(path), exc.code, exc.message))
        else:
            checked.append(
                CheckedImage(str(path), image.data, image.sha256, image.media_type, image.width, image.height)
            )
        if on_file is not None:
            on_file(path)
    if problems:
        raise ImagesRejectedError(problems, total=examined)
    return checked
