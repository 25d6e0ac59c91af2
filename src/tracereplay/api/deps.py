"""Request plumbing shared by the routers: authentication and bounded body reading."""

from __future__ import annotations

import zlib
from collections.abc import Callable

from fastapi import Request

from tracereplay.context import AppContext
from tracereplay.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from tracereplay.projects.service import Principal


def api_key_from(request: Request) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return request.headers.get("x-api-key")


def principal_dependency(ctx: AppContext) -> Callable[[Request], Principal]:
    def principal(request: Request) -> Principal:
        return ctx.keys.resolve(api_key_from(request))

    return principal


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body exceeds {limit} bytes (TRACEREPLAY_MAX_REQUEST_BYTES); "
        "send smaller batches, e.g. lower the exporter's max export batch size"
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, gunzipped if needed, refused once it (or its decompressed form) passes `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise UnsupportedMediaType(f"content-encoding {encoding!r} is not supported; use gzip or none")
    # Bounded decompression: a small gzip bomb must not become a huge allocation.
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"body is not valid gzip: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise _too_large(limit)
    return out


def content_kind(request: Request, accepted: tuple[str, ...]) -> str:
    """The request's media type if it is one of `accepted`, else 415 naming what is accepted."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in accepted:
        raise UnsupportedMediaType(
            f"content type {media_type or '(none)'!r} is not accepted here; "
            f"send one of: {', '.join(accepted)}"
        )
    return media_type
