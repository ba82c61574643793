"""What the OpenAPI document says of our routes: path parameters, bodies and problem answers."""

from __future__ import annotations

from typing import Annotated, TypeVar
from uuid import UUID

from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, FromPath, Parameter

from skill_ledger.api.errors import PROBLEM_MEDIA_TYPE
from skill_ledger.api.schemas import Problem

MAX_LICENSE_ID = 2**63 - 1
T = TypeVar("T")
# schema_extra: Litestar writes le/ge as floats, and 2**63 - 1 as a float is 2**63.
LicenseId = FromPath[
    Annotated[
        int,
        Parameter(
            ge=1,
            le=MAX_LICENSE_ID,
            description="License id",
            schema_extra={"minimum": 1, "maximum": MAX_LICENSE_ID},
        ),
    ]
]
Skill = FromPath[Annotated[str, Parameter(min_length=1, max_length=64, description="Skill name")]]
AssessmentId = FromPath[Annotated[UUID, Parameter(description="Assessment id")]]
# A JSON body whose schema says what the server enforces: unknown fields are refused.
ClosedJSONBody = Annotated[
    T,
    Body(media_type=RequestEncodingType.JSON, schema_extra={"additionalProperties": False}),
]
DESCRIBED = {
    400: "Invalid body or parameters (the offending field is named)",
    401: "Missing, malformed, expired or revoked bearer token",
    403: "The role or the four-eyes rule forbids it",
    404: "Unknown license, skill or assessment",
    409: "The assessment's state does not allow it",
    413: "Body larger than 64 KiB",
    415: "The body is not application/json",
    429: "Too many login attempts from this client",
    500: "Unexpected server error (logged with its traceback)",
    503: "The database is unavailable, or the read side does not show the command yet "
    "(Retry-After; the same command again is safe)",
}
COMMON = (401, 403, 500, 503)


def problems(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem+json answers a route can give."""
    return {
        code: ResponseSpec(
            data_container=Problem,
            description=DESCRIBED[code],
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for code in codes
    }
