"""responder's Kubernetes client over real TLS: the double serves HTTPS with a certificate from a
throwaway cluster CA and requires a client certificate, as kubeadm/kind API servers do; kubeconfig
files carry the CA and the client certificate inline (``*-data``) or as files."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
import yaml

from responder.errors import ActionFailed, Transient
from responder.k8s.client import MERGE_PATCH, Credentials, KubeClient, Tls, TlsRejected, Unreachable
from responder.k8s.errors import translate
from responder.k8s.kubeconfig import client_for, load
from tests.k8s.pki import Pki, make_pki
from tests.k8s_double import NAMESPACE, NODE, POD, KubeDouble, running_double, seed_pod


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki(client_cn="responder")


@pytest.fixture
def tls_double(pki: Pki, tmp_path: Path) -> Iterator[KubeDouble]:
    with running_double(tls=pki.server_context(tmp_path)) as double:
        seed_pod(double)
        yield double


def _kubeconfig(tmp_path: Path, server: str, cluster: dict, user: dict) -> Path:
    path = tmp_path / "kube" / "config"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "kind-prod",
                "clusters": [{"name": "kind-prod", "cluster": {"server": server, **cluster}}],
                "users": [{"name": "kind-prod", "user": user}],
                "contexts": [{"name": "kind-prod", "context": {"cluster": "kind-prod", "user": "kind-prod"}}],
            }
        )
    )
    return path


def test_client_certificate_and_ca_from_kubeconfig_data(tls_double: KubeDouble, pki: Pki, tmp_path: Path) -> None:
    cert, key = pki.client.b64()
    ca = base64.b64encode(pki.ca.cert.encode()).decode()
    path = _kubeconfig(
        tmp_path,
        tls_double.url,
        {"certificate-authority-data": ca},
        {"client-certificate-data": cert, "client-key-data": key},
    )
    client = client_for(load([path]), "kind-prod")
    assert client.read_pod(NAMESPACE, POD)["metadata"]["name"] == POD
    request = tls_double.state.requests[-1]
    assert request["client_cn"] == "responder" and request["authorization"] is None


def test_client_certificate_and_ca_as_files_relative_to_the_kubeconfig(
    tls_double: KubeDouble, pki: Pki, tmp_path: Path
) -> None:
    folder = tmp_path / "kube" / "pki"
    folder.mkdir(parents=True)
    for name, text in (("ca.crt", pki.ca.cert), ("responder.crt", pki.client.cert), ("responder.key", pki.client.key)):
        (folder / name).write_text(text)
    path = _kubeconfig(
        tmp_path,
        tls_double.url,
        {"certificate-authority": "pki/ca.crt"},
        {"client-certificate": "pki/responder.crt", "client-key": "pki/responder.key"},
    )
    client = client_for(load([path]), "kind-prod")
    client.patch_node(NODE, {"spec": {"unschedulable": True}})
    assert tls_double.state.nodes[NODE]["spec"]["unschedulable"] is True
    assert tls_double.requests_of("PATCH")[-1]["content_type"] == MERGE_PATCH


def test_a_server_the_ca_does_not_vouch_for_is_refused_not_retried(tls_double: KubeDouble, pki: Pki) -> None:
    stranger = make_pki()
    creds = Credentials(cert_pem=pki.client.cert, key_pem=pki.client.key)
    client = KubeClient(tls_double.url, credentials=creds, tls=Tls(ca_pem=stranger.ca.cert))
    with pytest.raises(TlsRejected) as caught:
        client.read_pod(NAMESPACE, POD)
    error = translate(caught.value)
    assert isinstance(error, ActionFailed) and not isinstance(error, Transient)
    assert "certificate authority" in (error.hint or "")
    assert not tls_double.state.requests  # nothing was sent


def test_insecure_skip_tls_verify_only_when_the_kubeconfig_says_so(
    tls_double: KubeDouble, pki: Pki, tmp_path: Path
) -> None:
    cert, key = pki.client.b64()
    path = _kubeconfig(
        tmp_path,
        tls_double.url,
        {"insecure-skip-tls-verify": True},
        {"client-certificate-data": cert, "client-key-data": key},
    )
    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        assert client_for(load([path]), "kind-prod").read_node(NODE)["metadata"]["name"] == NODE


def test_without_a_client_certificate_the_server_refuses(tls_double: KubeDouble, pki: Pki) -> None:
    client = KubeClient(tls_double.url, tls=Tls(ca_pem=pki.ca.cert))
    with pytest.raises((TlsRejected, Unreachable)):  # the handshake fails (TLS 1.3: on the first read)
        client.read_pod(NAMESPACE, POD)
    assert not tls_double.state.requests


def test_log_is_bytes_and_query_is_encoded(kube: KubeDouble) -> None:
    raw = "caf\xe9 \x00 end\n"
    kube.state.logs[(NAMESPACE, POD, "envoy", False)] = raw
    client = KubeClient(kube.url)
    assert client.pod_log(NAMESPACE, POD, container="envoy", limit_bytes=10) == raw.encode()
    query = kube.requests_of("GET", "/log")[-1]["query"]
    assert query == {"container": "envoy", "previous": "false", "timestamps": "true", "limitBytes": "10"}
    events = client.list_events(NAMESPACE, field_selector=f"involvedObject.name={POD}")
    assert [e["involvedObject"]["name"] for e in events["items"]] == [POD]


def test_credentials_never_show_their_secrets() -> None:
    creds = Credentials(token="k8s-aws-v1.secret", cert_pem="-----BEGIN CERTIFICATE-----", key_pem="PRIVATE KEY")
    assert "secret" not in repr(creds) and "PRIVATE" not in repr(creds)
