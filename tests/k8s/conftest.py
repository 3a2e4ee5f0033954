"""Kubernetes tests share the seeded API double."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.k8s_double import KubeDouble, serve_seeded


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeDouble]:
    yield from serve_seeded(monkeypatch)
