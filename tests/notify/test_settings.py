from __future__ import annotations

import pytest

from responder.errors import ConfigInvalid
from responder.notify.settings import notify_settings


def test_defaults_are_gdpr_and_utc() -> None:
    settings = notify_settings(None)
    assert settings.regimes == ("gdpr-33", "gdpr-34") and settings.timezone == "UTC"
    assert settings.organisation.dpo_contact is None


def test_errors_name_the_field() -> None:
    with pytest.raises(ConfigInvalid, match=r"notify\.timezone"):
        notify_settings({"timezone": "Mars/Olympus"})
    with pytest.raises(ConfigInvalid, match="valid: gdpr-33"):
        notify_settings({"regimes": ["gdpr-99"]})
