"""Post-approval audits, "double random, one public" (双随机、一公开).

A plan draws targets at random from a bureau's licences of one kind, weighted by risk, and
assigns inspectors at random from the bureau's list, excluding those with a conflict (same
organization as the licensee, or its maintenance provider). The draw is a pure function of the
seed and the candidate lists, both recorded in ``AuditPlanDrawn``: ``draw`` on the recorded
inputs gives the recorded targets again.

Then, per target: findings; a rectification order with a deadline; verification closes it; an
order unrectified after its deadline opens suspension proceedings (recorded by the sweep).
Results are public from the draw on (``public_results``), without personal data.

The yearly minimum (DOMAIN.md: at least 5 % of licensees per year) is counted across the
year's plans (``coverage``); a plan that names neither size nor rate draws that rate, and a plan
draws licensees not yet drawn that year first (recorded per candidate as ``drawn_this_year``).

The package: ``rules`` (weights, the yearly minimum, plan size, the draw), ``commands``,
``events``, ``plan`` (the ``AuditPlan`` aggregate and its views), ``coverage`` (the yearly
minimum against what was drawn), ``inspectors`` (the ``Inspector`` aggregate), ``risk`` (risk
facts and factors).
"""
