"""DIAG_* diagnostics and other zero-length, no-effect elements: recorded, no effect."""

from __future__ import annotations

from .base import ElementModel


class Diagnostic(ElementModel):
    keyword = "DIAG_*"
