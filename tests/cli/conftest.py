"""Whole-playbook runs here end with a scope step: give it the generated story logs."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _scope_logs(with_scope_logs):
    return with_scope_logs
