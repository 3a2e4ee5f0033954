"""Kubernetes tests share the seeded API double, and never see the developer's own kubeconfig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.k8s_double import KubeDouble, serve_seeded


@pytest.fixture(autouse=True)
def no_developer_kubeconfig(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``KUBECONFIG`` and ``~/.kube/config`` are where responder looks after explicit clusters: a test
    sets them itself, or they are absent."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeDouble]:
    yield from serve_seeded(monkeypatch)
