"""A budget of pixels for the API's image decoding: a burst of big uploads waits or is refused, memory stays bound.

An upload is small (a 6300x6300 PNG of flat colour is 38 KB) but decodes to ~3 bytes a pixel, and more while it is
converted: eight such uploads at once took the process from 0.4 to 3.1 GB. Every decode of an uploaded image holds
its pixels (as its header claims them) from this budget while it runs; a request that does not fit within
``wait_s`` is refused with 503 ``busy`` and ``Retry-After``, so memory is bounded by the budget, not by the clients.
Once no decode is running, freed heap pages go back to the system, so the process shrinks after a burst.
"""

from __future__ import annotations

import ctypes
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from streamer.api.errors import ApiError


class ServiceBusyError(ApiError):
    """Too many pixels are being decoded right now; the client should retry after ``retry_after_s``."""

    code = "busy"
    retry_after_s = 1


class DecodeBudget:
    """Pixels that may be decoded at once, shared by every request (thread-safe).

    Args:
        pixels: the budget; an image larger than the whole budget waits until it has it all to itself.
        wait_s: how long a request waits for room before ``ServiceBusyError``.
    """

    def __init__(self, pixels: int, wait_s: float = 2.0) -> None:
        if pixels < 1:
            raise ValueError(f"pixels must be positive, got {pixels}")
        self.pixels = pixels
        self.wait_s = wait_s
        self._in_use = 0
        self._room = threading.Condition()

    @property
    def in_use(self) -> int:
        return self._in_use

    @contextmanager
    def hold(self, data: bytes) -> Iterator[None]:
        """Hold the pixels the encoded image ``data`` claims for as long as the block runs.

        Raises:
            ServiceBusyError: no room within ``wait_s``.
        """
        wanted = min(claimed_pixels(data), self.pixels)
        with self._room:
            if not self._room.wait_for(lambda: self._in_use + wanted <= self.pixels, timeout=self.wait_s):
                raise ServiceBusyError("busy decoding other images; retry in a moment")
            self._in_use += wanted
        try:
            yield
        finally:
            with self._room:
                self._in_use -= wanted
                idle = self._in_use == 0
                self._room.notify_all()
            if idle and wanted:
                _return_freed_memory()


def _return_freed_memory() -> None:
    """Hand the heap's free pages back to the system (glibc keeps them per thread arena otherwise, and the RSS of a
    burst would stay); a no-op where ``malloc_trim`` does not exist."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _load_libc()


def claimed_pixels(data: bytes) -> int:
    """Width x height as the image header says (nothing decoded); 0 when there is no readable header (the decode
    refuses such bytes at once)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:  # any unreadable header: the checked decode that follows names the problem
        return 0
    return width * height
