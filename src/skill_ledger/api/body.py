"""Request bodies: JSON only, decoded strictly before Litestar's lenient conversion."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import HTTPException, InternalServerException, ValidationException

from skill_ledger.api.errors import BODY_KWARG, ClientDisconnected

JSON_MEDIA_TYPE = "application/json"
# Litestar's words when the client hangs up before its body arrived (connection/request.py).
LITESTAR_DISCONNECTED = "client disconnected prematurely"


def is_json(media_type: str) -> bool:
    """application/json or any +json type."""
    media_type = media_type.lower()
    return media_type == JSON_MEDIA_TYPE or media_type.endswith("+json")


async def strict_json_body(request: Request[Any, Any, Any]) -> None:
    """Refuse a declared non-JSON body (415), a missing one and "7" or 7.0 for an integer (400)."""
    field = request.route_handler.parsed_fn_signature.parameters.get(BODY_KWARG)
    if field is None:
        return
    try:
        body = await request.body()
    except InternalServerException as e:
        if e.detail == LITESTAR_DISCONNECTED:
            raise ClientDisconnected() from None
        raise
    media_type = request.content_type[0]
    if body and media_type and not is_json(media_type):
        raise HTTPException(
            status_code=415, detail=f"Send the body as {JSON_MEDIA_TYPE}, not {media_type}"
        )
    if not body:
        if field.is_optional or field.has_default:
            return
        raise ValidationException(f"A JSON body ({JSON_MEDIA_TYPE}) is required")
    # Litestar converts bodies in msgspec's lax mode ("7" and 7.0 become 7): decode strictly
    # first; its messages have the same shape, so the error map names the same field.
    try:
        msgspec.json.decode(body, type=field.annotation)
    except msgspec.ValidationError as e:
        raise ValidationException(
            "Validation failed", extra=[{"message": str(e), "key": BODY_KWARG, "source": "body"}]
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        # msgspec raises UnicodeDecodeError for invalid UTF-8 inside a string.
        raise ValidationException(f"Malformed JSON body: {e}") from None
