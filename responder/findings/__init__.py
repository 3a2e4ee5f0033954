"""Findings: one adapter per source, all producing :class:`Finding`."""

from .load import load_file, load_text, parse_event
from .model import Finding, Source

__all__ = ["Finding", "Source", "load_file", "load_text", "parse_event"]
