"""The platform's notion of now, and the business date (China Standard Time).

Pure (standard library only), so schemas and domain code can ask for today's date without
pulling in the bus or the event store.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

CHINA_STANDARD_TIME = timezone(timedelta(hours=8))


def local_date(moment: datetime) -> date:
    """The date in China Standard Time of an instant (a naive one is taken as local already)."""
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(CHINA_STANDARD_TIME).date()


class Clock:
    """The service's notion of now. Injectable: tests move time.

    ``SESP_CLOCK_FILE``, when set, names a file holding an ISO timestamp that *is* now for every
    process reading it (end-to-end tests of deadlines). Never set it in production.
    """

    def __init__(self, fixed: datetime | None = None):
        self.fixed = fixed

    def now(self) -> datetime:
        if self.fixed is not None:
            return self.fixed
        path = os.environ.get("SESP_CLOCK_FILE")
        if path and Path(path).exists():
            text = Path(path).read_text().strip()
            if text:
                value = datetime.fromisoformat(text)
                return value if value.tzinfo else value.replace(tzinfo=UTC)
        return datetime.now(UTC)

    def today(self) -> date:
        """Today's business date: every date in the platform is a China Standard Time date
        (between 00:00 and 08:00 there, the UTC date is still yesterday)."""
        return local_date(self.now())


def today() -> date:
    """Today in China Standard Time by the injectable clock."""
    return Clock().today()
