"""Pydantic model of the statistics settings: the plant's shifts in local time, for /stats."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DAY_HOURS = 24


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Shift(_Model):
    """One shift of the working day; an end before the start crosses midnight (a night shift)."""

    name: str = Field(min_length=1, max_length=32, description="Shift name shown in /stats.")
    start: time = Field(description="Local start time, a whole hour (the rollups are hourly).")
    end: time = Field(description="Local end time (exclusive), a whole hour; equal to start: 24 h.")

    @field_validator("start", "end")
    @classmethod
    def _whole_hour(cls, value: time) -> time:
        if (value.minute, value.second, value.microsecond) != (0, 0, 0) or value.tzinfo:
            raise ValueError("shift times are whole local hours such as 06:00 (rollups are hourly)")
        return value

    @property
    def hours(self) -> int:
        """Length in hours (1-24)."""
        return (self.end.hour - self.start.hour) % DAY_HOURS or DAY_HOURS

    def offset(self, local_hour: int) -> int | None:
        """Hours since this shift started when the local clock shows `local_hour`, or None."""
        into = (local_hour - self.start.hour) % DAY_HOURS
        return into if into < self.hours else None


def _default_shifts() -> list[Shift]:
    return [Shift(name=n, start=time(s), end=time(e))
            for n, s, e in (("early", 6, 14), ("late", 14, 22), ("night", 22, 6))]


class StatsSection(_Model):
    """Shift times for the per-shift trend of /stats (hours outside every shift are left out)."""

    timezone: str = Field("UTC", description="IANA time zone of the shift times, e.g. Europe/Berlin.")
    shifts: list[Shift] = Field(
        default_factory=_default_shifts, max_length=24,
        description="The day's shifts; default early 06-14, late 14-22, night 22-06.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                             "Europe/Berlin)") from exc
        return value

    @model_validator(mode="after")
    def _no_overlap(self) -> StatsSection:
        names = [s.name for s in self.shifts]
        if len(set(names)) != len(names):
            raise ValueError(f"shift names must be unique, got {names}")
        for hour in range(DAY_HOURS):
            covering = [s.name for s in self.shifts if s.offset(hour) is not None]
            if len(covering) > 1:
                raise ValueError(f"shifts {covering} overlap at {hour:02d}:00")
        return self

    def shift_of(self, hour: datetime) -> tuple[str, datetime] | None:
        """(shift name, local start of that shift run) for a UTC hour bucket, None off-shift."""
        local = hour.astimezone(ZoneInfo(self.timezone))
        for shift in self.shifts:
            into = shift.offset(local.hour)
            if into is not None:
                day = local.date() - timedelta(days=1 if into > local.hour else 0)
                start = datetime.combine(day, shift.start, tzinfo=local.tzinfo)
                return shift.name, start.astimezone(UTC).astimezone(local.tzinfo)
        return None
