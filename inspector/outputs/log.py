"""LogOutput: one log line per part (WARNING for NG and REVIEW so they stand out)."""

from __future__ import annotations

import logging

from inspector.config import LogOutputConfig
from inspector.domain import Alarm, Inspection, Verdict

logger = logging.getLogger(__name__)


class LogOutput:
    """Logs every verdict; the simplest reject output and a record of what was signalled."""

    def __init__(self, name: str = "inspector.verdicts", when: str = "stored") -> None:
        self.log = logging.getLogger(name)
        self.when = when
        self.emitted = 0

    @classmethod
    def from_config(cls, cfg: LogOutputConfig) -> LogOutput:
        return cls(when=cfg.when)

    def alarm(self, alarm: Alarm) -> None:
        level = logging.ERROR if alarm.active else logging.WARNING
        self.log.log(level, "ALARM %s %s: %s", alarm.kind,
                     "raised" if alarm.active else "cleared", alarm.message)

    def emit(self, inspection: Inspection) -> None:
        level = logging.INFO if inspection.verdict is Verdict.OK else logging.WARNING
        score = "-" if inspection.defect_score is None else f"{inspection.defect_score:.3f}"
        self.log.log(
            level,
            "part %s serial=%s verdict=%s status=%s label=%s score=%s",
            inspection.part_id, inspection.serial, inspection.verdict.value,
            inspection.status.value, inspection.label, score,
        )
        self.emitted += 1
