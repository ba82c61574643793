"""The web console: server-rendered pages under /ui on the same use cases as the API."""

from skill_ledger.web.console import console_router
from skill_ledger.web.render import template_config

__all__ = ["console_router", "template_config"]
