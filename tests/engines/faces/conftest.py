"""Face fixtures for these tests (defined in tests/fixtures/faces.py, shared with any suite that registers it)."""

from __future__ import annotations

from tests.fixtures.faces import (  # noqa: F401  (fixtures are found by name)
    dlib_reference,
    face_embedder,
    face_photos,
    face_pipeline,
    group_photo,
    mtcnn_detector,
)
