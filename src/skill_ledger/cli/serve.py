"""`ledger serve`: the HTTP API under uvicorn, one or more worker processes."""

from __future__ import annotations

import atexit
import dataclasses
import ipaddress
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.table import Table
from uvicorn.supervisors import Multiprocess

from skill_ledger.api.app import AppFactory, check_secret
from skill_ledger.audit.signing import SigningKey
from skill_ledger.cli.common import EXIT_USAGE, err, fail, load_settings, opened_services
from skill_ledger.demo import seed_demo
from skill_ledger.services import DEVELOPMENT_ORIGIN, check_signing_key
from skill_ledger.settings import ConfigurationError, Settings, api_worker_share

EXIT_STARTUP_FAILURE = 3  # uvicorn's own code when the server cannot start


def is_loopback(host: str) -> bool:
    """True for localhost and the loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_serving(settings: Settings, host: str, demo: bool, demo_on_postgres: bool) -> None:
    """Refuse the unsafe combinations before anything is opened (exit 2 with the reason)."""
    try:
        check_secret(settings)
    except ConfigurationError as e:
        fail(str(e), EXIT_USAGE)
    if not settings.is_production and not is_loopback(host):
        fail(
            f"development mode serves only this machine (--host 127.0.0.1), not {host!r}: its "
            "tokens are signed with a throw-away secret unless LEDGER_JWT_SECRET is set; set "
            "LEDGER_ENV=production and LEDGER_JWT_SECRET to serve a network",
            EXIT_USAGE,
        )
    if demo and settings.is_production:
        fail(
            "--demo seeds accounts with published passwords: never with LEDGER_ENV=production",
            EXIT_USAGE,
        )
    if demo and settings.database.is_postgres and not demo_on_postgres:
        fail(
            f"--demo would seed accounts with published passwords into "
            f"{settings.database.render()}; add --demo-on-postgres if that is really wanted",
            EXIT_USAGE,
        )


def _throwaway_key(settings: Settings) -> Settings:
    """Development without a signing key: one throwaway key for every worker, and say so."""
    key = SigningKey.generate(DEVELOPMENT_ORIGIN)
    folder = Path(tempfile.mkdtemp(prefix="ledger-key-"))
    path = folder / "signing.key"
    path.write_text(key.text() + "\n", encoding="utf-8")
    path.chmod(0o600)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    err.print(
        "[yellow]No LEDGER_SIGNING_KEY_FILE: checkpoints are signed with a throwaway key "
        f"(development only), {key.verifier.text()}[/]",
        highlight=False,
    )
    return dataclasses.replace(settings, signing_key_file=str(path))


def _prepare(settings: Settings, demo: bool) -> Settings:
    """Check the database; seed the demo accounts if asked; in development fix one JWT secret
    and, without a signing key, a throwaway one."""
    with opened_services(settings) as services:
        seeded = seed_demo(services.accounts) if demo else None
    if seeded is not None:
        accounts, license_id = seeded
        table = Table(title="Demo accounts (development only)")
        for column in ("email", "password", "role", "user id"):
            table.add_column(column)
        for account in accounts:
            table.add_row(account.email, account.password, account.role.value, str(account.user_id))
        err.print(table)
        err.print(f"Demo license id: [bold]{license_id}[/] (held by student@lfa.com)")
    if settings.is_production:
        return settings
    if not settings.signing_key_file:
        settings = _throwaway_key(settings)
    if settings.jwt_secret:
        return settings
    # Every worker must sign with the same secret: choose it once, here.
    return dataclasses.replace(settings, jwt_secret=secrets.token_urlsafe(48))


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind (development: loopback only).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    no_projector: Annotated[
        bool, typer.Option("--no-projector", help="Run no projector here (use `ledger project`).")
    ] = False,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Seed the demo accounts and license (development only)."),
    ] = False,
    demo_on_postgres: Annotated[
        bool,
        typer.Option("--demo-on-postgres", help="Allow --demo to seed a PostgreSQL database."),
    ] = False,
) -> None:
    """Serve the HTTP API (projector in-process unless --no-projector)."""
    settings = load_settings()
    check_serving(settings, host, demo, demo_on_postgres)
    try:
        check_signing_key(settings)
    except ConfigurationError as e:
        fail(str(e), EXIT_USAGE)
    try:
        share = api_worker_share(settings.connection_budget, workers, no_projector)
    except ConfigurationError as e:
        fail(str(e), EXIT_USAGE)
    settings = dataclasses.replace(_prepare(settings, demo), connection_share=share)
    err.print(f"Serving on http://{host}:{port} ({settings.database.render()})")
    config = uvicorn.Config(
        AppFactory(settings, run_projector=not no_projector),
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        server_header=False,
        # X-Forwarded-For is believed only from the proxies named in LEDGER_TRUSTED_PROXIES:
        # uvicorn's default trusts loopback, so any local client could pick its own address.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
    )
    if workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise typer.Exit(EXIT_STARTUP_FAILURE)
