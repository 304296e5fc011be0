"""The licensing domain: pure aggregates, commands and events (standard library only).

- ``common``: constants, local dates, errors and the event base every aggregate shares;
- ``application``: applications for administrative licences under the statutory clock;
- ``delegation``: delegations of licence kinds to bureaus, and routing of new applications;
- ``licence``: licences issued on approval, renewal, suspension, revocation, expiry;
- ``equipment``: the equipment register fed by use registrations;
- ``audit``: post-approval audit plans (random, risk-weighted, reproducible) and their results.

``from services.licensing import domain as d`` gives every public name of these modules.
"""

from .application import *  # noqa: F403
from .common import *  # noqa: F403
