"""What handlers receive by Litestar's dependency injection: the parts of the opened Services."""

from __future__ import annotations

from typing import Any

from litestar.datastructures import State
from litestar.di import Provide

COMPONENTS = ("settings", "accounts", "assessments", "proofs", "services")


def _component(name: str) -> Provide:
    def provide(state: State) -> Any:
        return state.services if name == "services" else getattr(state.services, name)

    return Provide(provide, sync_to_thread=False, use_cache=True)


def dependencies() -> dict[str, Provide]:
    """One provider per component, each resolved once (the services live as long as the app).

    Hot routes take one dependency each: Litestar resolves several in a task group per request.
    """
    return {name: _component(name) for name in COMPONENTS}
