"""SAM's Globals section, read by SAM's own plugin (samtranslator), as `sam build` reads it."""

from __future__ import annotations

from typing import Any

from workshop.errors import WorkshopError


def read_globals(raw: dict[str, Any], where: str):
    """The template's Globals, read by SAM's own plugin: what SAM refuses is refused here."""
    # Imported here: samtranslator takes about 0.3 s to import; only reading a template needs it.
    from samtranslator.model.exceptions import ExceptionWithMessage
    from samtranslator.plugins.globals.globals import Globals

    try:
        return Globals(raw)
    except ExceptionWithMessage as exc:
        raise WorkshopError(
            f"{where}: {exc.message}. sam build refuses it too: set that property on each "
            "resource instead, or remove it."
        ) from None


def with_globals(
    sam_globals: Any, kind: str, logical_id: str, resource: dict[str, Any], where: str
) -> dict[str, Any]:
    """The resource's properties with Globals merged as SAM merges them (IgnoreGlobals too)."""
    from samtranslator.model.exceptions import ExceptionWithMessage

    props = resource.get("Properties") or {}
    try:
        return sam_globals.merge(kind, props, logical_id, resource.get("IgnoreGlobals"))
    except ExceptionWithMessage as exc:
        raise WorkshopError(f"{where}: {exc.message}") from None
