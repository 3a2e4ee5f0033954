from __future__ import annotations

from responder.notify.scope import read

from .conftest import SCOPE


def test_investigate_output_is_read_with_its_limits() -> None:
    view = read(SCOPE)
    assert view.present and view.events == 412
    assert view.objects_text() == "at least 3"  # a capped list, not a count
    assert view.bucket_reads == {"customers-prod": 2, "build-artifacts": 1}
    assert view.api_calls == ["GetObject", "GetCallerIdentity"]
    assert view.personal_categories == ["personal_data", "payment_data"]
    assert view.persistence == ["CreateAccessKey backup-user"]
    assert view.source_ips == ["203.0.113.9"] and view.egress_bytes == 0


def test_other_shapes_and_nothing() -> None:
    view = read({"buckets": [{"name": "b", "tags": [{"Key": "pii", "Value": "yes"}], "objects_read": 7}],
                 "objects_read": 7, "data_categories": ["credentials"], "events": "12"})
    assert view.bucket_tags == {"b": {"pii": "yes"}} and view.bucket_reads == {"b": 7}
    assert view.objects_text() == "7" and view.personal_categories == [] and view.events == 12
    empty = read(None)
    assert not empty.present and empty.objects_text() is None and empty.buckets == []
