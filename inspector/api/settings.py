"""ApiSettings: how the app behaves (open reads, body limit, root-cause defaults, station id)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from inspector.api.config import MAX_BODY_BYTES, ApiSection
from inspector.api.station_fetch import CentralSettings
from inspector.api.stats_config import StatsSection
from inspector.trace.config import RootCauseConfig


@dataclass(frozen=True)
class ApiSettings:
    """Built from station.yaml by the command that serves the app; the defaults need a key."""

    open_reads: bool = False           # reads without a key (writes always need one)
    max_body_bytes: int = MAX_BODY_BYTES
    root_cause: RootCauseConfig = field(default_factory=RootCauseConfig)
    station_id: str | None = None      # recorded in audit entries; None for a central server
    images_dir: Path | None = None     # image archive root (data_dir/images): part images by id
    stats: StatsSection = field(default_factory=StatsSection)  # shift times of /stats
    central: CentralSettings | None = None  # set: a central service (fleet page, image fetch)

    @classmethod
    def of(cls, api: ApiSection, root_cause: RootCauseConfig | None = None,
           station_id: str | None = None) -> ApiSettings:
        """The settings of a config's `api:` section (and its trace.root_cause)."""
        return cls(open_reads=api.open_reads, max_body_bytes=api.max_body_bytes,
                   root_cause=root_cause or RootCauseConfig(), station_id=station_id,
                   stats=api.stats)
