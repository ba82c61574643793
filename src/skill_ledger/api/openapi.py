"""What the OpenAPI document says of our routes: path parameters, bodies and problem answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, TypeVar
from uuid import UUID

from litestar import Litestar
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, OpenAPIHeader, Schema, SecurityScheme
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import Body, FromPath, HeaderParameter, Parameter
from litestar.routes import HTTPRoute

from skill_ledger.api.errors import POSITION_HEADER, PROBLEM_MEDIA_TYPE
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
# The consistency token: a command's answer carries it; a read sent with it (to any API node)
# sees that command (a replica serves it once replayed past it, else the primary does).
LedgerPosition = Annotated[
    int,
    HeaderParameter(
        name=POSITION_HEADER,
        ge=0,
        le=MAX_LICENSE_ID,
        required=False,
        description="Consistency token from a command's answer: the read reflects that command",
        schema_extra={"minimum": 0, "maximum": MAX_LICENSE_ID},
    ),
]
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
    409: "The assessment's state does not allow it, or concurrent commands exhausted the retries",
    413: "Body larger than 64 KiB",
    415: "The body is not application/json",
    500: "Unexpected server error (logged with its traceback)",
    503: "The database is unavailable, or the read side does not show the command yet "
    "(Retry-After; the same command again is safe)",
}
LOGIN_DESCRIBED = {
    401: "Unknown email, wrong password or deactivated account (one answer for all three)",
    429: "Too many attempts from this client address, or too many failed logins for this email",
    503: "The database is unavailable, or every password-check slot is busy (a login flood)",
}
COMMON = (401, 403, 500, 503)
BEARER = "BearerToken"
RETRY_AFTER = ("Retry-After", OpenAPIType.INTEGER, "Seconds to wait before trying again")
HEADERS = {
    "401": (("WWW-Authenticate", OpenAPIType.STRING, "`Bearer`"),),
    "429": (RETRY_AFTER,),
    "503": (RETRY_AFTER,),
}
CARRIES_POSITION = "carries_position"
"""A route handler's opt flag: its 2xx answers carry X-Ledger-Position."""
POSITION_ANSWER = (
    POSITION_HEADER,
    OpenAPIType.INTEGER,
    "Consistency token: the command's log position; send it on later reads (to any node)",
)


def problems(*codes: int, described: Mapping[int, str] | None = None) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem+json answers a route can give (`described` overrides)."""
    descriptions = {**DESCRIBED, **(described or {})}
    return {
        code: ResponseSpec(
            data_container=Problem,
            description=descriptions[code],
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for code in codes
    }


def bearer_components(description: str) -> Components:
    """The bearer scheme as OpenAPI 3.1 has it (Litestar's JWTAuth adds an apiKey-only `name`)."""
    scheme = SecurityScheme(
        type="http", scheme="bearer", bearer_format="JWT", description=description
    )
    return Components(security_schemes={BEARER: scheme})


def document_exactly(app: Litestar) -> None:
    """Keep in each operation only the answers its route declares, with the headers they carry.

    Litestar documents a 400 "Validation Exception" with an application/json body for every
    route with parameters; the server never sends it (a malformed id is a 404, any other 400 a
    problem+json that the route declares itself).
    """
    openapi = app.openapi_schema
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or openapi.paths is None:
            continue
        path = openapi.paths.get(route.path_format)
        for handler in route.route_handlers:
            if path is None or not handler.resolve_include_in_schema():
                continue
            declared = {str(handler.status_code), *map(str, handler.responses or {})}
            for method in handler.http_methods:
                operation = getattr(path, method.lower())
                operation.responses = {
                    code: response
                    for code, response in (operation.responses or {}).items()
                    if code in declared
                }
                for code, response in operation.responses.items():
                    problem = response.content and PROBLEM_MEDIA_TYPE in response.content
                    if code.startswith("2") and handler.opt.get(CARRIES_POSITION):
                        name, kind, text = POSITION_ANSWER
                        response.headers = {
                            name: OpenAPIHeader(schema=Schema(type=kind), description=text)
                        }
                    if problem and code in HEADERS:
                        response.headers = {
                            name: OpenAPIHeader(schema=Schema(type=kind), description=text)
                            for name, kind, text in HEADERS[code]
                        }
