"""Licences issued on approval (许可证). See ``aggregate`` for the rules; ``renewal`` for
renewal, operator reviews and the sweep. Everything importers use is re-exported here."""

from .aggregate import Licence
from .commands import (
    DecideRenewal,
    IssueLicence,
    ReinstateLicence,
    RequestRenewal,
    RevokeLicence,
    SuspendLicence,
    SweepLicence,
)
from .events import (
    EVENT_TYPES,
    LicenceExpired,
    LicenceIssued,
    LicenceReinstated,
    LicenceRenewed,
    LicenceRevoked,
    LicenceSuspended,
    OperatorItemInvalidated,
    OperatorItemReviewDue,
    RenewalRefused,
    RenewalRequested,
)
from .rules import (
    ACTIVE,
    EXPIRED,
    KIND_CODES,
    REVOKED,
    SUSPENDED,
    LicenceRules,
    decision_number,
    default_valid_until,
    licence_number,
)

__all__ = [
    "ACTIVE", "EXPIRED", "EVENT_TYPES", "KIND_CODES", "REVOKED", "SUSPENDED",
    "DecideRenewal", "IssueLicence", "Licence", "LicenceExpired", "LicenceIssued",
    "LicenceReinstated", "LicenceRenewed", "LicenceRevoked", "LicenceRules", "LicenceSuspended",
    "OperatorItemInvalidated", "OperatorItemReviewDue", "ReinstateLicence", "RenewalRefused",
    "RenewalRequested", "RequestRenewal", "RevokeLicence", "SuspendLicence", "SweepLicence",
    "decision_number", "default_valid_until", "licence_number",
]  # fmt: skip
