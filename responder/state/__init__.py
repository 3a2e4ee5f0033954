"""Run stores. This package imports no backend: ``open_store`` imports the one the URL names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigInvalid

if TYPE_CHECKING:
    from .base import RunStore


def open_store(url: str) -> RunStore:
    """``sqlite:///PATH`` (default) or ``dynamodb://TABLE``."""
    if url.startswith("sqlite:///"):
        from .sqlite import SqliteStore

        return SqliteStore(Path(url[len("sqlite:///") :]))
    if url.startswith("dynamodb://"):
        from .dynamodb import DynamoStore  # type: ignore[import-not-found]

        return DynamoStore(url[len("dynamodb://") :])
    raise ConfigInvalid(f"RESPONDER_STORE {url!r}: expected sqlite:///PATH or dynamodb://TABLE")
