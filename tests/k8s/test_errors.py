"""Kubernetes API failures become responder's errors: retried, denied (naming verb and resource) or gone.

The failures are real: responder's client against the local API double answering 429/403/404/500, or
against a closed port."""

from __future__ import annotations

import json

import pytest

from responder.errors import ActionFailed, Denied, TargetChanged, Transient
from responder.k8s.access import K8sAccess
from responder.k8s.client import ApiError, Unreachable
from responder.k8s.errors import translate
from tests.k8s_double import CLUSTER, NAMESPACE, POD, KubeDouble


@pytest.mark.parametrize(
    ("code", "expected"),
    [(429, Transient), (500, Transient), (503, Transient), (403, Denied), (404, TargetChanged), (409, ActionFailed)],
)
def test_api_errors_translate_into_responders_tree(kube: KubeDouble, code: int, expected: type) -> None:
    kube.fail("PATCH", r"/pods/", code)
    api = K8sAccess({}).client(CLUSTER)
    with pytest.raises(ApiError) as caught:
        api.patch_pod(NAMESPACE, POD, {"metadata": {"labels": {"a": "b"}}})
    assert caught.value.status == code
    error = translate(caught.value)
    assert type(error) is expected
    if code == 403:
        assert isinstance(error, Denied) and "cannot patch" in error.message


def test_rbac_denial_names_verb_and_resource() -> None:
    body = json.dumps(
        {
            "kind": "Status",
            "code": 403,
            "reason": "Forbidden",
            "message": 'networkpolicies.networking.k8s.io is forbidden: User "responder" cannot create resource '
            '"networkpolicies" in API group "networking.k8s.io" in the namespace "payments"',
        }
    )
    error = translate(ApiError(403, "Forbidden", body))
    assert isinstance(error, Denied)
    assert error.permission == "create networkpolicies (networking.k8s.io)"


def test_unreachable_api_server_is_transient_and_others_are_not_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPONDER_K8S_CLUSTERS", json.dumps({CLUSTER: {"host": "http://127.0.0.1:9"}}))
    with pytest.raises(Unreachable) as caught:
        K8sAccess({}).client(CLUSTER).read_pod(NAMESPACE, POD)
    assert isinstance(translate(caught.value), Transient)
    assert translate(ValueError("x")) is None
