"""The Litestar application: services opened in the lifespan and injected; errors; OpenAPI."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import anyio.to_thread
from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin

from skill_ledger.api.accounts import ACCOUNT_ROUTES
from skill_ledger.api.assessments import ASSESSMENT_ROUTES
from skill_ledger.api.audit_trail import AUDIT_TRAIL_ROUTES
from skill_ledger.api.auth import TokenIssuer, build_jwt_auth
from skill_ledger.api.body import strict_json_body
from skill_ledger.api.dependencies import dependencies
from skill_ledger.api.disputes import DISPUTE_ROUTES
from skill_ledger.api.errors import EXCEPTION_HANDLERS
from skill_ledger.api.guards import canonical_path
from skill_ledger.api.log import LOG_ROUTES
from skill_ledger.api.login import LoginDesk, login
from skill_ledger.api.middleware import EdgeMiddleware
from skill_ledger.api.openapi import bearer_components, document_exactly
from skill_ledger.api.operations import health, metrics
from skill_ledger.api.sessions import SESSION_ROUTES
from skill_ledger.logs import configure_logging
from skill_ledger.metrics import PrometheusObserver
from skill_ledger.services import Services, check_signing_key
from skill_ledger.settings import MIN_PRODUCTION_SECRET_BYTES, ConfigurationError, Settings
from skill_ledger.web import console_router, template_config

MAX_BODY_BYTES = 64 * 1024


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
    if run_projector and services is None:
        check_signing_key(settings)
    secret = settings.jwt_secret or secrets.token_urlsafe(48)
    jwt_auth = build_jwt_auth(secret, settings)
    tokens = TokenIssuer(jwt_auth, settings)

    def login_desk(state: State) -> LoginDesk:
        return LoginDesk(state.services.logins, tokens, settings.jwt_expiry_seconds)

    lifespan = _lifespan(settings, services, run_projector)
    protected = Router(
        path="/",
        route_handlers=[
            *ASSESSMENT_ROUTES,
            *DISPUTE_ROUTES,
            *SESSION_ROUTES,
            *AUDIT_TRAIL_ROUTES,
            *ACCOUNT_ROUTES,
            *LOG_ROUTES,
        ],
        security=[jwt_auth.security_requirement],
        guards=[canonical_path],
    )
    # Only login is rate-limited (per client address, per process): other routes skip the check.
    rate_limit = RateLimitConfig(rate_limit=("minute", settings.login_rate_per_minute))
    public = Router(path="/", route_handlers=[login], middleware=[rate_limit.middleware])
    app = Litestar(
        route_handlers=[public, health, metrics, protected, console_router(settings, secret)],
        lifespan=[lifespan],
        dependencies={
            **dependencies(),
            "desk": Provide(login_desk, sync_to_thread=False, use_cache=True),
        },
        middleware=[EdgeMiddleware, jwt_auth.middleware],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=strict_json_body,
        request_max_body_size=MAX_BODY_BYTES,
        template_config=template_config(),
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="Skill assessment ledger",
            version="1.0.0",
            description="Event-sourced ledger of football skill assessments.",
            path="/schema",
            components=bearer_components(jwt_auth.description),
            render_plugins=[SwaggerRenderPlugin(), JsonRenderPlugin()],
        ),
    )
    document_exactly(app)
    return app


def _lifespan(
    settings: Settings, services: Services | None, run_projector: bool
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Open the services (or adopt the given ones) and run or follow the projector."""

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
                opened.start_tree_keeper()
            else:
                opened.start_follower()
        try:
            yield
        finally:
            if services is None:
                await anyio.to_thread.run_sync(opened.close)

    return lifespan


@dataclass(frozen=True)
class AppFactory:
    """Builds the app in each server worker from settings handed over as values (picklable)."""

    settings: Settings
    run_projector: bool = True

    def __call__(self) -> Litestar:
        """Logging first, then the app (its lifespan opens the services)."""
        configure_logging(production=self.settings.is_production)
        return create_app(self.settings, run_projector=self.run_projector)
