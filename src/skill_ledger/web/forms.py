"""Form values: read from the posted form, parsed, and refused with the field named."""

from __future__ import annotations

from typing import Any

from litestar import Request

from skill_ledger.domain import LedgerError


class FormError(LedgerError):
    """A form field that does not parse; the page shows the message beside the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def form_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The posted form (parsed and CSRF-checked before the handler ran)."""
    form: dict[str, str] = request.state.get("form", {})
    return form


def whole_number(values: dict[str, str], field: str) -> int:
    """A field holding a whole number; FormError naming the field otherwise (pages show the
    message after the field's label)."""
    text = values.get(field, "").strip()
    if not text:
        raise FormError(field, "is required")
    if not text.isascii() or not text.lstrip("-").isdigit() or len(text) > 9:
        raise FormError(field, f"must be a whole number, not {text[:20]!r}")
    return int(text)
