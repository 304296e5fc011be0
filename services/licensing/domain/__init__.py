"""The licensing domain: pure aggregates, commands and events (standard library and the kit's
pure modules, ``infra.domain``, ``infra.clock`` and ``infra.places``, only).

- ``common``: the licence kinds and their vocabularies, deadlines and the event base (the
  kit's event with a timeline entry) every aggregate shares;
- ``application``: applications for administrative licences under the statutory clock;
- ``delegation``: delegations of licence kinds to bureaus, and routing of new applications;
- ``licence``: licences issued on approval, renewal, suspension, revocation, expiry;
- ``equipment``: the equipment register fed by use registrations;
- ``audit``: post-approval audit plans (random, risk-weighted, reproducible) and their results.

Import a name from the module that defines it (``domain.application.aggregate``, ...): the
packages re-export nothing.
"""
