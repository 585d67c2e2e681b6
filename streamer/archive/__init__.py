"""The keyframe archive: past keyframes' scene embeddings and thumbnails, for forensic search by image."""

from __future__ import annotations

from streamer.archive.errors import ArchiveError
from streamer.archive.keyframes import ArchivedKeyframe, KeyframeArchive, archive_folder

__all__ = ["ArchiveError", "ArchivedKeyframe", "KeyframeArchive", "archive_folder"]
