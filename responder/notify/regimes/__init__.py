"""The notification regimes responder knows, as data, each item with the rule it comes from.

Ids: ``gdpr-33``, ``gdpr-34``, ``uk-gdpr``, ``nis2``, ``hipaa``, ``sec-8k``, ``lgpd``. An organisation
chooses the ones that apply in ``notify.regimes``. How the periods below are counted (elapsed hours,
end of the local day, business days against a holiday calendar) is written down in
:mod:`responder.notify.deadlines`. This is decision support for people who know the law, not legal advice:
every item cites its source so it can be checked.
"""

from __future__ import annotations

from ...errors import BadInput
from ..model import Regime
from .br import LGPD
from .gdpr import GDPR_33, GDPR_34, UK_GDPR
from .nis2 import NIS2
from .us import HIPAA, SEC_8K

REGIMES: dict[str, Regime] = {r.id: r for r in (GDPR_33, GDPR_34, UK_GDPR, NIS2, HIPAA, SEC_8K, LGPD)}


def get_regime(regime_id: str) -> Regime:
    """The regime with this id, or BadInput naming the valid ids."""
    try:
        return REGIMES[regime_id]
    except KeyError:
        raise BadInput(
            f"unknown regime {regime_id!r}; valid regimes: {', '.join(REGIMES)}",
            hint="choose one of the ids above",
        ) from None
