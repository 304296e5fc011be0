"""Applications for administrative licences (行政许可申请): commands, events, the aggregate.

Pure: standard library only, no I/O. Time (``now``), ids and the working-day calendar are
arguments. ``Application.decide`` checks the rules and returns events; ``Application.apply``
folds one event into state and never checks, so a replay runs only ``apply``.

The statutory clock (Administrative Licensing Law, DOMAIN.md), in working days, counted from the
day after the event:
- intake: an outcome (accept, not accept, request correction) within 5 days of receipt, else the
  application is *deemed accepted* from the day it was received;
- decision: 20 days after acceptance, once extended by 10; days while the clock is suspended
  (hearing, testing, expert review, on-site evaluation) do not count;
- certificate: 10 days after an approval, met by recording its delivery
  (``DeliverCertificate``); an approved application whose certificate is late is overdue.
Deadlines are computed when the fact that sets them is decided and recorded in that event, with
a ``provisional`` flag when the calendar had to guess a year; ``RecomputeDeadlines`` records new
values once the year's schedule is configured (the application is provisional while the deadline
it runs against is). While the clock is suspended, ``decision_due`` keeps its last value and
``clock_running`` is false; resuming records the moved date, unless the period had run out before
the suspension (then nothing was stopped, and nothing can be extended). A decision records
whether it came after the due date and by how many working days. A correction request is
answered item by item: until every item is supplied the intake clock stays stopped.

Who acted: ``actor`` (``role:token id``) is kept in every event for audit; ``by`` (role, bureau
or credit code, name) is what the timeline shows, with times in China Standard Time.

Dates are local dates in China Standard Time: an aware ``now`` is converted, a naive one is taken
as local time.

Personal data: event data keeps every personal field (resident ID number, person name, birth
date) under one top-level ``person`` key, and nowhere else, so the service layer can wrap each
value in ``infra.eventstore.crypto.Personal`` before appending. ``apply`` copies ``person`` as
it is, so an erased value (``"[erased]"``) replays without error.

The package: ``rules`` (numbers, statuses, refusals), ``commands``, ``events``, ``intake``
(validation of a new application), ``aggregate`` (``Application``: state, the status
machine, ``apply``), ``clock`` (deemed acceptance, decision deadline, suspension, extension,
working days used, lateness, recomputation), ``decisions`` (receipt, correction request and
supplements, approval with the validity it grants, refusal, work stop, certificate delivery).
"""
