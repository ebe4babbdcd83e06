"""What a station already recorded: a source's inputs (a restarted folder run resumes), part refs."""

from __future__ import annotations

from sqlalchemy import select

from inspector.storage.access import DatabaseAccess
from inspector.storage.tables import inspections


class SourceProgress(DatabaseAccess):
    """Reads the `source_ref` of the rows a station stored for one source."""

    def recorded_refs(self, station_id: str, source_id: str) -> set[str]:
        """Every ref under `source_id/` this station has a row for (any status)."""
        cols = inspections.c
        stmt = select(cols.source_ref).where(
            cols.station_id == station_id,
            cols.source_ref.startswith(f"{source_id}/", autoescape=True),
        )
        with self._connection("read recorded inputs from") as conn:
            return {ref for (ref,) in conn.execute(stmt)}

    def part_for_ref(self, station_id: str, part_ref: str) -> str | None:
        """The part id this station stored for a PLC/MES part reference, None if none yet."""
        cols = inspections.c
        stmt = select(cols.part_id).where(cols.station_id == station_id, cols.part_ref == part_ref)
        with self._connection("look up a part reference in") as conn:
            return conn.execute(stmt).scalar_one_or_none()
