"""The credit service's rules: maintenance units and elevators as licensing reports them, the
maintenance records and missed maintenance of each elevator, evaluations of a period and
appeals against single deductions. Pure: standard library and ``infra.domain`` only.

- ``Unit`` (``unit-<uscc>``): a holder of a licence whose scope includes
  ``elevator:maintenance``, with its licences' status (an expired licence is a veto fact).
- ``Elevator`` (``elevator-<code>``): who maintains it from which day (licensing's register),
  the days it was maintained, the half-monthly windows it missed.
- ``Evaluation`` (``evaluation-<period>``): the scores of a period published for objection,
  then final.
- ``Appeal`` (``appeal-<id>``): a unit's objection to one deduction, decided by its bureau.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from infra import domain
from infra.clock import local_date
from infra.places import licensed_unit_district
from services.maintenance_credit import rules

# An elevator must be maintained at least every 15 days (TSG T5002); a record may reach the
# platform a few days after the work, so a window is judged missed only this long after its
# end.
MAINTENANCE_INTERVAL_DAYS = 15
RECORD_GRACE_DAYS = 3
# Most windows one check records for one elevator (an elevator unmaintained for years
# catches up over a few sweeps instead of one huge transaction).
MAX_MISSED_PER_CHECK = 50
RECORD_TYPES = ("half_monthly", "quarterly", "half_yearly", "annual")
CITY_BUREAU = "SH"


# --- maintenance units ----------------------------------------------------------------------


@dataclass(frozen=True)
class LicenceState:
    licence_no: str
    status: str  # active | suspended | revoked | expired
    valid_until: date | None
    changed_on: date
    valid_from: date | None = None


@dataclass(frozen=True, kw_only=True)
class UnitLicensed(domain.Event):
    """Licensing issued a licence covering elevator maintenance to the unit: it is scored."""

    uscc: str
    name: str
    licence_no: str
    bureau: str
    valid_from: date
    valid_until: date | None
    # Where the unit is (``infra.places.licensed_unit_district``); None for the facts recorded
    # before it was kept, whose district is their bureau's.
    district: str | None = None


@dataclass(frozen=True, kw_only=True)
class UnitLicenceChanged(domain.Event):
    """Licensing renewed, suspended, reinstated, revoked or let expire one of its licences."""

    licence_no: str
    status: str
    changed_on: date
    valid_until: date | None = None


UNIT_EVENTS = domain.event_types(UnitLicensed, UnitLicenceChanged)


@dataclass
class Unit(domain.Aggregate):
    kind_name = "maintenance unit"
    uscc: str = ""
    name: str = ""
    bureau: str = CITY_BUREAU
    district: str | None = None
    licences: tuple[LicenceState, ...] = ()
    version: int = 0

    def apply(self, event: domain.Event) -> None:
        if isinstance(event, UnitLicensed):
            self.uscc, self.name, self.bureau = event.uscc, event.name, event.bureau
            self.district = event.district or licensed_unit_district(None, event.bureau)
            state = LicenceState(
                event.licence_no, "active", event.valid_until, event.valid_from, event.valid_from
            )
            self.licences = self._without(event.licence_no) + (state,)
        elif isinstance(event, UnitLicenceChanged):
            old = self.licence(event.licence_no)
            until = event.valid_until or (old.valid_until if old else None)
            since = old.valid_from if old else None
            state = LicenceState(event.licence_no, event.status, until, event.changed_on, since)
            self.licences = self._without(event.licence_no) + (state,)
        self.version += 1

    def licence(self, licence_no: str) -> LicenceState | None:
        return next((lic for lic in self.licences if lic.licence_no == licence_no), None)

    def _without(self, licence_no: str) -> tuple[LicenceState, ...]:
        return tuple(lic for lic in self.licences if lic.licence_no != licence_no)

    @property
    def status(self) -> str:
        """``active`` while one licence is in force, else the latest licence's status."""
        if any(lic.status == "active" for lic in self.licences):
            return "active"
        return max(self.licences, key=lambda lic: lic.changed_on).status if self.licences else ""

    @property
    def licensed_from(self) -> date | None:
        """The first day a maintenance licence of the unit was valid."""
        days = [lic.valid_from for lic in self.licences if lic.valid_from is not None]
        return min(days) if days else None

    @property
    def ended_on(self) -> date | None:
        """The day its last licence ended (revoked or expired); None while one holds (a
        suspended licence still holds: the unit is under supervision)."""
        if not self.licences or any(lic.status in ("active", "suspended") for lic in self.licences):
            return None
        return max(lic.changed_on for lic in self.licences)

    @property
    def expirations(self) -> list[LicenceState]:
        """The licences that ran out: each a veto fact on the day it expired."""
        return [lic for lic in self.licences if lic.status == "expired"]


# --- elevators ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contract:
    """``unit_uscc`` maintains the elevator from ``from_on`` (None: nobody does)."""

    unit_uscc: str | None
    from_on: date


@dataclass(frozen=True)
class Missed:
    """A half-monthly window (``window_from`` to ``due_on``) with no maintenance."""

    unit_uscc: str
    window_from: date
    due_on: date


@dataclass(frozen=True, kw_only=True)
class ElevatorRegistered(domain.Event):
    """Licensing registered the elevator, maintained by ``maintenance_unit_uscc`` from the day
    it was registered."""

    equipment_code: str
    district: str
    maintenance_unit_uscc: str | None
    registered_on: date


@dataclass(frozen=True, kw_only=True)
class MaintainerChanged(domain.Event):
    """Another unit (or none) maintains the elevator from ``changed_on``."""

    maintenance_unit_uscc: str | None
    changed_on: date


@dataclass(frozen=True, kw_only=True)
class ElevatorStatusChanged(domain.Event):
    """The elevator was suspended, resumed (``registered``) or cancelled: only a registered
    elevator is due maintenance."""

    status: str


@dataclass(frozen=True, kw_only=True)
class MaintenanceRecorded(domain.Event):
    """The unit reported maintenance of the elevator on ``performed_on`` (its ``record_id``)."""

    record_id: str
    unit_uscc: str
    performed_on: date
    record_type: str  # half_monthly | quarterly | half_yearly | annual


@dataclass(frozen=True, kw_only=True)
class MaintenanceMissed(domain.Event):
    """No maintenance was recorded in a half-monthly window: a fact against the unit that
    maintained the elevator when it was due."""

    unit_uscc: str
    window_from: date
    due_on: date


ELEVATOR_EVENTS = domain.event_types(
    ElevatorRegistered,
    MaintainerChanged,
    ElevatorStatusChanged,
    MaintenanceRecorded,
    MaintenanceMissed,
)


@dataclass(frozen=True, kw_only=True)
class RecordMaintenance(domain.Command):
    record_id: str
    unit_uscc: str
    performed_on: date
    record_type: str  # half_monthly | quarterly | half_yearly | annual


@dataclass(frozen=True, kw_only=True)
class CheckMaintenance(domain.Command):
    """Record every half-monthly window that ended more than the grace days before today."""


@dataclass
class Elevator(domain.Aggregate):
    kind_name = "elevator"
    equipment_code: str = ""
    district: str = ""
    status: str = "registered"
    contracts: tuple[Contract, ...] = ()
    performed: tuple[date, ...] = ()
    missed: tuple[Missed, ...] = ()
    version: int = 0

    def decide(self, command: domain.Command, now: datetime) -> list[domain.Event]:
        stamp: domain.Stamp = {"at": now, "actor": command.actor}
        if isinstance(command, RecordMaintenance):
            if command.performed_on > local_date(now):
                raise domain.Invalid("performed_on", "must not be in the future")
            if not self.exists or self.maintainer_on(command.performed_on) != command.unit_uscc:
                raise domain.Invalid(
                    "equipment_code",
                    f"not maintained by {command.unit_uscc} on {command.performed_on}",
                )
            return [
                MaintenanceRecorded(
                    **stamp,
                    record_id=command.record_id,
                    unit_uscc=command.unit_uscc,
                    performed_on=command.performed_on,
                    record_type=command.record_type,
                )
            ]
        if isinstance(command, CheckMaintenance):
            return [MaintenanceMissed(**stamp, **vars(m)) for m in self.windows_missed(now)]
        raise TypeError(f"an elevator does not take {type(command).__name__}")

    def apply(self, event: domain.Event) -> None:
        if isinstance(event, ElevatorRegistered):
            self.equipment_code, self.district = event.equipment_code, event.district
            self.status = "registered"
            self.contracts = (Contract(event.maintenance_unit_uscc, event.registered_on),)
        elif isinstance(event, MaintainerChanged):
            self.contracts += (Contract(event.maintenance_unit_uscc, event.changed_on),)
        elif isinstance(event, ElevatorStatusChanged):
            self.status = event.status
        elif isinstance(event, MaintenanceRecorded):
            self.performed = tuple(sorted({*self.performed, event.performed_on}))
        elif isinstance(event, MaintenanceMissed):
            self.missed += (Missed(event.unit_uscc, event.window_from, event.due_on),)
        self.version += 1

    def maintainer_on(self, day: date) -> str | None:
        """Who maintained the elevator on ``day`` (the latest contract started by then)."""
        current = None
        for contract in sorted(self.contracts, key=lambda c: c.from_on):
            if contract.from_on <= day:
                current = contract.unit_uscc
        return current

    @property
    def current(self) -> Contract | None:
        """The latest contract; of two starting the same day the later change, as
        ``maintainer_on`` decides (an elevator registered without a maintainer and put under
        contract the same day is that unit's)."""
        if not self.contracts:
            return None
        return max(reversed(self.contracts), key=lambda c: c.from_on)

    def covered_until(self, start: date) -> date:
        """From ``start``, hop through the maintenance days while none is more than the
        interval after the last: the day the uninterrupted run ends."""
        reached = start
        for day in self.performed:  # sorted
            if day <= reached:
                continue
            if day > reached + timedelta(days=MAINTENANCE_INTERVAL_DAYS):
                break
            reached = day
        return reached

    @property
    def next_due_on(self) -> date | None:
        """The day the next maintenance is due under the current contract (None: nothing is
        due: no maintainer, or not in use)."""
        start = self.check_start
        if start is None:
            return None
        return self.covered_until(start) + timedelta(days=MAINTENANCE_INTERVAL_DAYS)

    @property
    def check_start(self) -> date | None:
        """Where counting starts: the current contract's first day, or the end of the last
        window already recorded as missed. Windows are counted under the current maintainer
        only: a unit that takes an elevator over has its full interval before a first miss."""
        contract = self.current
        if self.status != "registered" or contract is None or contract.unit_uscc is None:
            return None
        ends = [m.due_on for m in self.missed if m.due_on >= contract.from_on]
        return max([contract.from_on, *ends])

    def windows_missed(self, now: datetime) -> list[Missed]:
        """The windows ended more than ``RECORD_GRACE_DAYS`` before today without a record."""
        start, contract = self.check_start, self.current
        if start is None or contract is None or contract.unit_uscc is None:
            return []
        judged_until = local_date(now) - timedelta(days=RECORD_GRACE_DAYS)
        found: list[Missed] = []
        reached = self.covered_until(start)
        while len(found) < MAX_MISSED_PER_CHECK:
            due = reached + timedelta(days=MAINTENANCE_INTERVAL_DAYS)
            if due >= judged_until:
                break
            found.append(Missed(contract.unit_uscc, reached + timedelta(days=1), due))
            reached = self.covered_until(due)
        return found


def check_maintenance(elevator: Elevator, now: datetime) -> CheckMaintenance | None:
    """The sweep's rule: an elevator with a window ended unmaintained is checked."""
    if not elevator.windows_missed(now):
        return None
    return CheckMaintenance(actor=domain.SYSTEM_ACTOR)


# --- evaluations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitGrade:
    uscc: str
    demerits: Decimal
    grade: str
    vetoed: bool


@dataclass(frozen=True, kw_only=True)
class EvaluationPublished(domain.Event):
    """The scores of ``period`` were published for objection until ``objection_until``."""

    period: str
    ruleset: str
    published_on: date
    objection_until: date
    grades: tuple[UnitGrade, ...]


@dataclass(frozen=True, kw_only=True)
class EvaluationFinalized(domain.Event):
    """The objection period is over and every appeal decided: the grades are final."""

    finalized_on: date
    grades: tuple[UnitGrade, ...]


EVALUATION_EVENTS = domain.event_types(EvaluationPublished, EvaluationFinalized)


@dataclass(frozen=True, kw_only=True)
class PublishEvaluation(domain.Command):
    period: str
    ruleset: str
    objection_until: date
    grades: tuple[UnitGrade, ...]


@dataclass(frozen=True, kw_only=True)
class FinalizeEvaluation(domain.Command):
    appeals_pending: int
    grades: tuple[UnitGrade, ...]


@dataclass
class Evaluation(domain.Aggregate):
    kind_name = "evaluation"
    period: str = ""
    ruleset: str = ""
    status: str = ""  # published | final
    published_on: date | None = None
    objection_until: date | None = None
    finalized_on: date | None = None
    grades: tuple[UnitGrade, ...] = ()
    version: int = 0

    def decide(self, command: domain.Command, now: datetime) -> list[domain.Event]:
        stamp: domain.Stamp = {"at": now, "actor": command.actor}
        today = local_date(now)
        if isinstance(command, PublishEvaluation):
            if self.exists:
                raise domain.RuleConflict(f"evaluation {command.period} is {self.status} already")
            if today <= period_end(command.period):
                raise domain.RuleConflict(f"period {command.period} has not ended")
            return [
                EvaluationPublished(
                    **stamp,
                    period=command.period,
                    ruleset=command.ruleset,
                    published_on=today,
                    objection_until=command.objection_until,
                    grades=command.grades,
                )
            ]
        if isinstance(command, FinalizeEvaluation):
            if self.status != "published":
                raise domain.RuleConflict(f"evaluation {self.period} is {self.status} already")
            if self.open_for_objection(today):
                until = self.objection_until.isoformat() if self.objection_until else "?"
                raise domain.RuleConflict(f"open for objection until {until}")
            if command.appeals_pending:
                raise domain.RuleConflict(f"{command.appeals_pending} appeal(s) not decided yet")
            return [EvaluationFinalized(**stamp, finalized_on=today, grades=command.grades)]
        raise TypeError(f"an evaluation does not take {type(command).__name__}")

    def apply(self, event: domain.Event) -> None:
        if isinstance(event, EvaluationPublished):
            self.period, self.ruleset, self.status = event.period, event.ruleset, "published"
            self.published_on, self.objection_until = event.published_on, event.objection_until
            self.grades = event.grades
        elif isinstance(event, EvaluationFinalized):
            self.status, self.finalized_on, self.grades = "final", event.finalized_on, event.grades
        self.version += 1

    def open_for_objection(self, today: date) -> bool:
        return (
            self.status == "published"
            and self.objection_until is not None
            and today <= self.objection_until
        )


def period_end(period: str) -> date:
    return date(int(period), 12, 31)


# --- appeals --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AppealFiled(domain.Event):
    """The unit objected to one deduction of a published evaluation, on ``grounds``; the
    bureau ``bureau`` decides."""

    appeal_id: str
    uscc: str
    deduction_id: str
    period: str
    rule: str
    points: Decimal
    grounds: str
    bureau: str


@dataclass(frozen=True, kw_only=True)
class AppealDecided(domain.Event):
    """The bureau upheld the deduction or overturned it (it is reversed)."""

    outcome: str
    reason: str
    decided_on: date


APPEAL_EVENTS = domain.event_types(AppealFiled, AppealDecided)


@dataclass(frozen=True, kw_only=True)
class FileAppeal(domain.Command):
    appeal_id: str
    uscc: str
    deduction_id: str
    period: str
    rule: str
    points: Decimal
    grounds: str
    bureau: str


@dataclass(frozen=True, kw_only=True)
class DecideAppeal(domain.Command):
    outcome: str
    reason: str
    # the deciding officer's bureau; None for the city administration
    bureau: str | None


@dataclass
class Appeal(domain.Aggregate):
    kind_name = "appeal"
    appeal_id: str = ""
    uscc: str = ""
    deduction_id: str = ""
    period: str = ""
    rule: str = ""
    points: Decimal = Decimal(0)
    grounds: str = ""
    bureau: str = ""
    status: str = ""  # under_appeal | upheld | overturned
    filed_on: date | None = None
    decided_on: date | None = None
    reason: str | None = None
    version: int = 0

    def decide(self, command: domain.Command, now: datetime) -> list[domain.Event]:
        stamp: domain.Stamp = {"at": now, "actor": command.actor}
        if isinstance(command, FileAppeal):
            if self.exists:
                raise domain.RuleConflict(f"deduction {command.deduction_id} is appealed already")
            grounds = domain.text(command.grounds, "grounds")
            data = {k: v for k, v in vars(command).items() if k != "actor"}
            return [AppealFiled(**stamp, **{**data, "grounds": grounds})]
        if isinstance(command, DecideAppeal):
            if command.bureau not in (None, CITY_BUREAU, self.bureau):
                raise domain.NotKnown(f"appeal {self.appeal_id} not found")
            if self.status != "under_appeal":
                raise domain.RuleConflict(f"appeal {self.appeal_id} is {self.status} already")
            if command.outcome not in ("upheld", "overturned"):
                raise domain.Invalid("outcome", "must be upheld or overturned")
            reason = domain.text(command.reason, "reason")
            return [
                AppealDecided(
                    **stamp, outcome=command.outcome, reason=reason, decided_on=local_date(now)
                )
            ]
        raise TypeError(f"an appeal does not take {type(command).__name__}")

    def apply(self, event: domain.Event) -> None:
        if isinstance(event, AppealFiled):
            for name in ("appeal_id", "uscc", "deduction_id", "period", "rule", "points"):
                setattr(self, name, getattr(event, name))
            self.grounds, self.bureau = event.grounds, event.bureau
            self.status, self.filed_on = "under_appeal", local_date(event.at)
        elif isinstance(event, AppealDecided):
            self.status, self.reason = event.outcome, event.reason
            self.decided_on = event.decided_on
        self.version += 1


def appeal_key(uscc: str, deduction_id: str) -> str:
    """One appeal per deduction: its id derives from the unit and the deduction."""
    return domain.derived_id("appeal", uscc, deduction_id)


# --- rule-set versions adopted over the API ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RuleSetAdopted(domain.Event):
    """The city adopted rule-set ``version`` (its ``definition`` as given), in force from
    ``effective_from``: until then a what-if run shows what it would change."""

    version: str
    effective_from: date
    definition: dict


RULESET_EVENTS = domain.event_types(RuleSetAdopted)


@dataclass(frozen=True, kw_only=True)
class AdoptRuleSet(domain.Command):
    definition: dict
    # versions known already (shipped with the service or adopted before)
    known: tuple[str, ...] = ()


@dataclass
class RuleSetVersion(domain.Aggregate):
    kind_name = "rule set"
    version_name: str = ""
    effective_from: date | None = None
    definition: dict | None = None
    version: int = 0

    def decide(self, command: domain.Command, now: datetime) -> list[domain.Event]:
        stamp: domain.Stamp = {"at": now, "actor": command.actor}
        if isinstance(command, AdoptRuleSet):
            ruleset = rules.parse(command.definition)
            if self.exists or ruleset.version in command.known:
                raise domain.RuleConflict(f"rule set {ruleset.version} exists already")
            if ruleset.effective_from <= local_date(now):
                raise domain.Invalid(
                    "effective_from", "must be after today: a new version takes effect ahead"
                )
            return [
                RuleSetAdopted(
                    **stamp,
                    version=ruleset.version,
                    effective_from=ruleset.effective_from,
                    definition=dict(command.definition),
                )
            ]
        raise TypeError(f"a rule set does not take {type(command).__name__}")

    def apply(self, event: domain.Event) -> None:
        if isinstance(event, RuleSetAdopted):
            self.version_name, self.effective_from = event.version, event.effective_from
            self.definition = event.definition
        self.version += 1


# --- a unit's standing: what the service tells others -----------------------------------------


@dataclass(frozen=True, kw_only=True)
class ScoreChanged(domain.Event):
    """The unit's score of the current period changed (a fact, an appeal, a new rule set):
    its demerits, grade and whether a veto holds, as of ``as_of``."""

    uscc: str
    period: str
    as_of: date
    demerits: Decimal
    grade: str
    vetoed: bool
    ruleset: str


@dataclass(frozen=True, kw_only=True)
class VetoRecorded(domain.Event):
    """A veto fact forces the unit's grade of ``period`` to the worst."""

    uscc: str
    period: str
    veto: str
    fact_id: str


@dataclass(frozen=True, kw_only=True)
class BlacklistTriggered(domain.Event):
    """A fact that lists the unit on the blacklist (``reason``: beyond_licence_scope,
    first_pass_rate_below_60, final_grade_d)."""

    uscc: str
    reason: str
    fact_id: str | None
    occurred_on: date


@dataclass(frozen=True, kw_only=True)
class GradeFinalized(domain.Event):
    """The unit's grade of ``period`` is final (its evaluation was finalized)."""

    uscc: str
    period: str
    demerits: Decimal
    grade: str
    vetoed: bool


STANDING_EVENTS = domain.event_types(ScoreChanged, VetoRecorded, BlacklistTriggered, GradeFinalized)


@dataclass(frozen=True, kw_only=True)
class RecordStanding(domain.Command):
    uscc: str
    period: str
    as_of: date
    demerits: Decimal
    grade: str
    vetoed: bool
    ruleset: str
    # (veto id, fact id) of the vetoes that hold
    vetoes: tuple[tuple[str, str], ...] = ()
    # (key, reason, fact id, day) of the blacklist triggers among the facts
    triggers: tuple[tuple[str, str, str, date], ...] = ()


@dataclass(frozen=True, kw_only=True)
class FinalizeGrade(domain.Command):
    uscc: str
    period: str
    demerits: Decimal
    grade: str
    vetoed: bool
    worst_grade: str


@dataclass
class Standing(domain.Aggregate):
    kind_name = "standing"
    uscc: str = ""
    period: str = ""
    demerits: Decimal = Decimal(0)
    grade: str = ""
    vetoed: bool = False
    vetoes: tuple[str, ...] = ()  # "<period>:<veto>" told already
    triggered: tuple[str, ...] = ()  # trigger keys told already
    final: tuple[str, ...] = ()  # periods whose final grade was told
    version: int = 0

    def decide(self, command: domain.Command, now: datetime) -> list[domain.Event]:
        stamp: domain.Stamp = {"at": now, "actor": command.actor}
        out: list[domain.Event] = []
        if isinstance(command, RecordStanding):
            told = (self.period, self.demerits, self.grade, self.vetoed)
            if told != (command.period, command.demerits, command.grade, command.vetoed):
                out.append(
                    ScoreChanged(
                        **stamp,
                        uscc=command.uscc,
                        period=command.period,
                        as_of=command.as_of,
                        demerits=command.demerits,
                        grade=command.grade,
                        vetoed=command.vetoed,
                        ruleset=command.ruleset,
                    )
                )
            for veto, fact_id in command.vetoes:
                if f"{command.period}:{veto}" not in self.vetoes:
                    out.append(
                        VetoRecorded(
                            **stamp, uscc=command.uscc, period=command.period, veto=veto,
                            fact_id=fact_id,
                        )
                    )  # fmt: skip
            for key, reason, fact_id, day in command.triggers:
                if key not in self.triggered:
                    out.append(
                        BlacklistTriggered(
                            **stamp, uscc=command.uscc, reason=reason, fact_id=fact_id,
                            occurred_on=day,
                        )
                    )  # fmt: skip
            return out
        if isinstance(command, FinalizeGrade):
            if command.period in self.final:
                return []
            out.append(
                GradeFinalized(
                    **stamp,
                    uscc=command.uscc,
                    period=command.period,
                    demerits=command.demerits,
                    grade=command.grade,
                    vetoed=command.vetoed,
                )
            )
            if command.grade == command.worst_grade:
                out.append(
                    BlacklistTriggered(
                        **stamp,
                        uscc=command.uscc,
                        reason="final_grade_d",
                        fact_id=None,
                        occurred_on=local_date(now),
                    )
                )
            return out
        raise TypeError(f"a standing does not take {type(command).__name__}")

    def apply(self, event: domain.Event) -> None:
        if isinstance(event, ScoreChanged):
            self.uscc, self.period, self.grade = event.uscc, event.period, event.grade
            self.demerits, self.vetoed = event.demerits, event.vetoed
        elif isinstance(event, VetoRecorded):
            self.vetoes += (f"{event.period}:{event.veto}",)
        elif isinstance(event, BlacklistTriggered):
            self.uscc = event.uscc
            if event.reason != "final_grade_d":  # that one is told with its final grade
                self.triggered += (trigger_key(event),)
        elif isinstance(event, GradeFinalized):
            self.uscc, self.final = event.uscc, self.final + (event.period,)
        self.version += 1


def trigger_key(event: BlacklistTriggered) -> str:
    """The key a trigger is told once by (as ``scoring.blacklist_triggers`` makes it)."""
    if event.reason == "first_pass_rate_below_60":
        return f"{event.reason}:{event.occurred_on.year}"
    return f"{event.reason}:{event.fact_id}"
