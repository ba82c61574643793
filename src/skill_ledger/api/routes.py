"""HTTP handlers: parse, call the ledger, shape the answer."""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar
from uuid import UUID

from litestar import MediaType, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, FromPath, Parameter
from litestar.security.jwt import JWTAuth, Token

from skill_ledger.accounts import User
from skill_ledger.api.auth import (
    ARCHIVERS,
    ASSESSORS,
    READERS,
    VALIDATORS,
    actor_of,
    allow,
    check_may_read_license,
    services_of,
)
from skill_ledger.api.errors import PROBLEM_MEDIA_TYPE
from skill_ledger.api.schemas import (
    ArchiveRequest,
    AssessmentOut,
    AssessRequest,
    AssessResponse,
    CommandResponse,
    Health,
    LoginRequest,
    LoginResponse,
    Problem,
)
from skill_ledger.application import CommandResult
from skill_ledger.database import DatabaseUnavailable
from skill_ledger.domain import AssessmentNotFound
from skill_ledger.metrics import exposition
from skill_ledger.services import Services

IDENTICAL = "Identical assessment already exists"
MAX_LICENSE_ID = 2**63 - 1
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
T = TypeVar("T")
PATH_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")


def canonical_path(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """404 unless each id in the path is spelled canonically: one resource, one URL.

    The int and uuid converters take whatever int() and UUID() take: "+1", "01", "١" and "１"
    would all name license 1 ("1_0" license 10), and braces, "urn:uuid:" or no dashes the same
    assessment. Case is ignored, as RFC 9562 says UUIDs are read.
    """
    params = connection.path_params
    canonical = PATH_PARAMETER.sub(
        lambda m: str(params[m.group(1)]), connection.scope["path_template"]
    )
    if canonical.lower() != connection.scope["path"].lower():
        raise NotFoundException(f"Not found; the canonical path is {canonical}")


# A JSON body whose schema says what the server enforces: unknown fields are refused.
ClosedJSONBody = Annotated[
    T,
    Body(media_type=RequestEncodingType.JSON, schema_extra={"additionalProperties": False}),
]
Skill = FromPath[Annotated[str, Parameter(min_length=1, max_length=64, description="Skill name")]]
AssessmentId = FromPath[Annotated[UUID, Parameter(description="Assessment id")]]


def problems(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem+json answers a route can give."""
    described = {
        400: "Invalid body or parameters (the offending field is named)",
        401: "Missing, malformed, expired or revoked bearer token",
        403: "The role or the four-eyes rule forbids it",
        404: "Unknown license, skill or assessment",
        409: "The assessment's state does not allow it",
        413: "Body larger than 64 KiB",
        415: "The body is not application/json",
        429: "Too many login attempts from this client",
        500: "Unexpected server error (logged with its traceback)",
        503: "The database is unavailable",
    }
    return {
        code: ResponseSpec(
            data_container=Problem,
            description=described[code],
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for code in codes
    }


COMMON = (401, 403, 500, 503)


def answered(services: Services, result: CommandResult) -> AssessmentOut:
    """The assessment as the command left it, once the read table reflects it."""
    services.wait_projected(result.position)
    row = result.assessment or services.readmodel.get(result.assessment_id)
    if row is None:
        raise AssessmentNotFound(result.assessment_id)
    return AssessmentOut.of(row)


@post(
    "/api/v1/auth/login",
    exclude_from_auth=True,
    sync_to_thread=True,
    status_code=200,
    tags=["auth"],
    summary="Exchange email and password for a bearer token",
    responses=problems(400, 401, 413, 415, 429, 500, 503),
)
def login(request: Request[Any, Any, Any], data: ClosedJSONBody[LoginRequest]) -> LoginResponse:
    """Same 401 for an unknown email and a wrong password."""
    services = services_of(request)
    user = services.accounts.authenticate(data.email, data.password)
    if user is None:
        raise NotAuthorizedException("Invalid email or password")
    auth: JWTAuth[User, Token] = request.app.state.jwt_auth
    token = auth.create_token(identifier=str(user.id))
    return LoginResponse(token, "bearer", services.settings.jwt_expiry_seconds)


@post(
    "/api/v1/licenses/{license_id:int}/skills/{skill:str}/assess",
    guards=[allow(*ASSESSORS)],
    sync_to_thread=True,
    status_code=201,
    tags=["assessments"],
    summary="Assess a skill: 201 created, or 200 when the points are identical",
    responses={
        200: ResponseSpec(AssessResponse, description="Identical assessment already exists"),
        **problems(400, *COMMON, 404, 413, 415),
    },
)
def assess(
    request: Request[User, Token, Any],
    license_id: LicenseId,
    skill: Skill,
    data: ClosedJSONBody[AssessRequest],
) -> Response[AssessResponse]:
    """Create or replace the active assessment of a skill on a license."""
    services = services_of(request)
    result = services.ledger.assess(
        actor_of(request),
        license_id,
        skill,
        data.points_earned,
        data.points_total,
        data.notes or "",
    )
    body = AssessResponse(
        success=True,
        created=result.created,
        assessment=answered(services, result),
        message=None if result.created else IDENTICAL,
    )
    return Response(body, status_code=201 if result.created else 200)


@get(
    "/api/v1/licenses/{license_id:int}/skills/{skill:str}/assessments",
    guards=[allow(*READERS)],
    sync_to_thread=True,
    tags=["assessments"],
    summary="Every assessment of a skill on a license, newest first",
    responses=problems(400, *COMMON, 404),
)
def history(
    request: Request[User, Token, Any], license_id: LicenseId, skill: Skill
) -> list[AssessmentOut]:
    """All statuses, newest first."""
    services = services_of(request)
    services.ledger.check_skill(skill)
    check_may_read_license(services, request.user, license_id)
    services.ledger.check_license(license_id)
    return [AssessmentOut.of(row) for row in services.readmodel.history(license_id, skill)]


@get(
    "/api/v1/assessments/{assessment_id:uuid}",
    guards=[allow(*READERS)],
    sync_to_thread=True,
    tags=["assessments"],
    summary="One assessment",
    responses=problems(*COMMON, 404),
)
def get_assessment(
    request: Request[User, Token, Any], assessment_id: AssessmentId
) -> AssessmentOut:
    """The assessment as the read table holds it."""
    services = services_of(request)
    row = services.readmodel.get(assessment_id)
    if row is None:
        raise AssessmentNotFound(assessment_id)
    check_may_read_license(services, request.user, row.user_license_id)
    return AssessmentOut.of(row)


@post(
    "/api/v1/assessments/{assessment_id:uuid}/validate",
    guards=[allow(*VALIDATORS)],
    sync_to_thread=True,
    status_code=200,
    tags=["assessments"],
    summary="Validate an assessment (admins; never the assessor)",
    responses=problems(*COMMON, 404, 409),
)
def validate(request: Request[User, Token, Any], assessment_id: AssessmentId) -> CommandResponse:
    """ASSESSED → VALIDATED; again on a VALIDATED one records nothing."""
    services = services_of(request)
    result = services.ledger.validate(actor_of(request), assessment_id)
    return CommandResponse(success=True, assessment=answered(services, result))


@post(
    "/api/v1/assessments/{assessment_id:uuid}/archive",
    guards=[allow(*ARCHIVERS)],
    sync_to_thread=True,
    status_code=200,
    tags=["assessments"],
    summary="Archive an assessment with a reason (admins, or the assessing instructor)",
    responses=problems(400, *COMMON, 404, 413, 415),
)
def archive(
    request: Request[User, Token, Any],
    assessment_id: AssessmentId,
    data: ClosedJSONBody[ArchiveRequest],
) -> CommandResponse:
    """→ ARCHIVED; again on an ARCHIVED one records nothing."""
    services = services_of(request)
    result = services.ledger.archive(actor_of(request), assessment_id, data.reason)
    return CommandResponse(success=True, assessment=answered(services, result))


@get(
    "/health",
    exclude_from_auth=True,
    sync_to_thread=True,
    tags=["operations"],
    summary="200 when the database answers, 503 otherwise",
    responses={503: ResponseSpec(Health, description="The database is unreachable")},
)
def health(request: Request[Any, Any, Any]) -> Response[Health]:
    """Checked, not assumed: a real round trip to the database."""
    try:
        services_of(request).db.ping()
    except DatabaseUnavailable as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else "database unreachable"
        return Response(Health("unhealthy", f"database: {detail}"), status_code=503)
    return Response(Health("healthy"), status_code=200)


@get(
    "/metrics",
    exclude_from_auth=True,
    sync_to_thread=True,
    tags=["operations"],
    summary="Prometheus metrics (text format)",
    include_in_schema=True,
    media_type=MediaType.TEXT,
)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """HTTP, command and projection metrics; projection and backlog gauges read at scrape."""
    body, content_type = exposition(services_of(request))
    # As a header: a text/* media_type would get a second "; charset=utf-8" appended.
    return Response(body, headers={"Content-Type": content_type})
