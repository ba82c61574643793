"""The Litestar application: services opened in the lifespan, one error map, OpenAPI at /schema."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from litestar import Litestar, Router
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components
from litestar.plugins.prometheus import PrometheusConfig

from skill_ledger.api.audit_routes import AUDIT_ROUTES
from skill_ledger.api.auth import build_jwt_auth
from skill_ledger.api.body import strict_json_body
from skill_ledger.api.errors import EXCEPTION_HANDLERS
from skill_ledger.api.middleware import MiddlewareErrorsMiddleware, RequestContextMiddleware
from skill_ledger.api.routes import (
    archive,
    assess,
    canonical_path,
    get_assessment,
    health,
    history,
    login,
    metrics,
    validate,
)
from skill_ledger.logs import configure_logging
from skill_ledger.metrics import PrometheusObserver
from skill_ledger.services import Services
from skill_ledger.settings import MIN_PRODUCTION_SECRET_BYTES, ConfigurationError, Settings

MAX_BODY_BYTES = 64 * 1024
PROJECTOR_ENV = "LEDGER_PROJECTOR"


def check_secret(settings: Settings) -> None:
    """In production, refuse to run without a JWT secret of at least 32 bytes."""
    if settings.is_production and len(settings.jwt_secret.encode()) < MIN_PRODUCTION_SECRET_BYTES:
        raise ConfigurationError(
            f"LEDGER_ENV=production needs LEDGER_JWT_SECRET of at least "
            f"{MIN_PRODUCTION_SECRET_BYTES} bytes"
        )


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    run_projector: bool = True,
) -> Litestar:
    """Build the app; it opens (or adopts) the services in its lifespan."""
    check_secret(settings)
    secret = settings.jwt_secret or secrets.token_urlsafe(48)
    jwt_auth = build_jwt_auth(secret, settings.jwt_expiry_seconds)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        opened: Services = (
            services
            if services is not None
            else await anyio.to_thread.run_sync(
                lambda: Services.open(settings, observer=PrometheusObserver())
            )
        )
        app.state.services = opened
        if services is None:
            if run_projector:
                opened.start_projector()
            else:
                opened.start_follower()
        try:
            yield
        finally:
            if services is None:
                await anyio.to_thread.run_sync(opened.close)

    protected = Router(
        path="/",
        route_handlers=[assess, history, get_assessment, validate, archive, *AUDIT_ROUTES],
        security=[jwt_auth.security_requirement],
        guards=[canonical_path],
    )
    # Only login is rate-limited (per client address, per process): other routes skip the check.
    rate_limit = RateLimitConfig(rate_limit=("minute", settings.login_rate_per_minute))
    public = Router(path="/", route_handlers=[login], middleware=[rate_limit.middleware])
    http_metrics = PrometheusConfig(app_name="ledger", prefix="ledger_http", group_path=True)
    app = Litestar(
        route_handlers=[public, health, metrics, protected],
        lifespan=[lifespan],
        middleware=[
            RequestContextMiddleware,
            http_metrics.middleware,
            MiddlewareErrorsMiddleware,
            jwt_auth.middleware,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=strict_json_body,
        request_max_body_size=MAX_BODY_BYTES,
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="Skill assessment ledger",
            version="1.0.0",
            description="Event-sourced ledger of football skill assessments.",
            path="/schema",
            components=[jwt_auth.openapi_components, Components()],
            render_plugins=[SwaggerRenderPlugin(), JsonRenderPlugin()],
        ),
    )
    app.state.jwt_auth = jwt_auth
    return app


def create_app_from_env() -> Litestar:
    """uvicorn factory: settings from the environment (each worker builds its own app)."""
    settings = Settings.from_env()
    configure_logging(production=settings.is_production)
    run_projector = os.environ.get(PROJECTOR_ENV, "on") != "off"
    return create_app(settings, run_projector=run_projector)
