"""Multipart uploads read within limits, every image checked (type sniffed, size, pixels, decode) before use.

Called by the routes after authentication, so an unauthenticated body is never read. The body as a whole is capped
by ``BodyLimitMiddleware``; here each file is capped again and checked with ``watchlists.sources``. A single bad
image raises its own error (``unsupported_image_type`` -> 415, ``image_too_large`` -> 413, ``corrupt_image`` or
``too_many_pixels`` -> 422); several raise ``images_rejected`` listing each, and nothing is stored either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from streamer.api.context import UploadLimits
from streamer.api.decode_budget import DecodeBudget
from streamer.api.errors import ApiError, InvalidRequestError
from watchlists.errors import FileProblem, ImageRejectedError, ImagesRejectedError, ImageTooLargeError
from watchlists.sources import CheckedImage, check_image_bytes

MAX_FIELDS = 32
MAX_FIELD_BYTES = 64 * 1024


class UnsupportedMediaTypeError(ApiError):
    """The request body is not ``multipart/form-data``."""

    code = "unsupported_media_type"


@dataclass(frozen=True)
class UploadForm:
    """A parsed multipart form: its text fields and its checked images.

    Attributes:
        fields: name -> every value given for it (``cameras`` may repeat).
        images: the uploaded images, in order, each named ``upload:<file name>``.
    """

    fields: dict[str, list[str]] = field(default_factory=dict)
    images: list[CheckedImage] = field(default_factory=list)

    def single_image(self, name: str) -> CheckedImage:
        """The one image of a route that takes exactly one (``POST /match``, ``POST /search``).

        Raises:
            InvalidRequestError: none or several were sent; ``name`` is the form field, for the message.
        """
        if len(self.images) != 1:
            raise InvalidRequestError(f"{name}: send exactly one image, got {len(self.images)}")
        return self.images[0]

    def text(self, name: str, default: str | None = None) -> str | None:
        """The last value of a text field, or ``default``."""
        values = self.fields.get(name)
        return values[-1] if values else default

    def number(self, name: str) -> float | None:
        """A text field as a number; ``invalid_request`` naming the field when it is not one."""
        value = self.text(name)
        if value is None or not value.strip():
            return None
        try:
            return float(value)
        except ValueError:
            raise InvalidRequestError(f"{name}: not a number: {value[:40]!r}") from None


async def read_upload(
    request: Request,
    limits: UploadLimits,
    *,
    file_field: str,
    required: bool = True,
    budget: DecodeBudget | None = None,
) -> UploadForm:
    """Parse the request's multipart form and check its images.

    Args:
        file_field: the form field carrying the images.
        required: refuse a form without any image (``invalid_request``).
        budget: pixels decoded at once across requests; each image is checked (decoded) within it.

    Raises:
        UnsupportedMediaTypeError: not a multipart form (415).
        RequestTooLargeError: the body went over the cap while being read (413).
        ImageRejectedError, ImagesRejectedError: see the module docstring.
        ServiceBusyError: the decode budget had no room in time (503, ``Retry-After``).
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        raise UnsupportedMediaTypeError(f"send multipart/form-data with images in '{file_field}', not {media_type!r}")
    form = await request.form(max_files=limits.max_files, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES)
    try:
        uploads = [value for value in form.getlist(file_field) if isinstance(value, UploadFile)]
        if required and not uploads:
            raise InvalidRequestError(f"{file_field}: no image; send one or more files in this form field")
        texts = {key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form}
        received = [(_source(upload), await _read_capped(upload, limits.max_image_bytes)) for upload in uploads]
    finally:
        await form.close()
    images = await run_in_threadpool(_check_all, received, limits, budget or DecodeBudget(limits.max_pixels))
    return UploadForm(fields=texts, images=images)


async def _read_capped(upload: UploadFile, max_bytes: int) -> bytes | None:
    """The file's bytes, or ``None`` when it is over ``max_bytes`` (then only the cap plus one byte is read)."""
    data = await upload.read(max_bytes + 1)
    return None if len(data) > max_bytes else data


def _check_all(
    received: list[tuple[str, bytes | None]], limits: UploadLimits, budget: DecodeBudget
) -> list[CheckedImage]:
    """Check every image; raise one error for one bad image, or one listing all of several."""
    checked: list[CheckedImage] = []
    errors: list[tuple[str, ImageRejectedError]] = []
    for source, data in received:
        try:
            if data is None:
                raise ImageTooLargeError(f"image is over the {limits.max_image_bytes}-byte limit")
            with budget.hold(data):
                checked.append(
                    check_image_bytes(source, data, max_bytes=limits.max_image_bytes, max_pixels=limits.max_pixels)
                )
        except ImageRejectedError as exc:
            errors.append((source, exc))
    if len(errors) == 1 and len(received) == 1:
        raise errors[0][1]
    if errors:
        problems = [FileProblem(source, exc.code, exc.message) for source, exc in errors]
        raise ImagesRejectedError(problems, total=len(received))
    return checked


def _source(upload: UploadFile) -> str:
    """``upload:<file name>``, the name stripped of folders and odd characters (it is stored and shown to admins)."""
    name = (upload.filename or "unnamed").replace("\\", "/").rsplit("/", 1)[-1]
    return "upload:" + (re.sub(r"[^\w.\- ]", "_", name)[:100] or "unnamed")


def multipart_openapi(
    file_field: str, *, many: bool, fields: dict[str, str] | None = None, required: tuple[str, ...] = ()
) -> dict[str, object]:
    """The ``requestBody`` of a route that reads its form itself (after auth), for the OpenAPI page.

    Args:
        file_field: the field carrying images.
        many: whether it may repeat.
        fields: other text fields and their descriptions.
        required: those of ``fields`` a request must send.
    """
    binary = {"type": "string", "format": "binary"}
    properties: dict[str, object] = {file_field: {"type": "array", "items": binary} if many else binary}
    properties |= {name: {"type": "string", "description": text} for name, text in (fields or {}).items()}
    schema = {"type": "object", "properties": properties, "required": [file_field, *required]}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}
