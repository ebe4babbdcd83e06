"""CommandOutput: runs a configured argv per verdict (e.g. a script that pulses a reject relay)."""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Mapping, Sequence

from inspector.config import CommandOutputConfig
from inspector.domain import Alarm, Inspection, Verdict

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class CommandOutput:
    """Runs `argv` for the part's verdict with `{serial}`, `{part_id}`, ... substituted.

    No shell is involved, so a serial can never inject a command. A command that fails,
    times out or cannot start is logged and counted in `failures`; it never raises.
    """

    def __init__(
        self,
        commands: dict[Verdict, Sequence[str]],
        timeout_s: float = 5.0,
        when: str = "immediate",
        alarm: Sequence[str] | None = None,
    ) -> None:
        self.commands = {v: list(argv) for v, argv in commands.items() if argv}
        self.timeout_s = timeout_s
        self.when = when
        self.alarm_argv = list(alarm) if alarm else None
        self.runs = 0
        self.failures = 0

    @classmethod
    def from_config(cls, cfg: CommandOutputConfig) -> CommandOutput:
        commands = {Verdict.NG: cfg.ng, Verdict.REVIEW: cfg.review, Verdict.OK: cfg.ok}
        return cls({v: argv for v, argv in commands.items() if argv}, cfg.timeout_s, cfg.when,
                   cfg.alarm)

    def emit(self, inspection: Inspection) -> None:
        template = self.commands.get(inspection.verdict)
        if template is None:
            return
        self._run(substitute(template, inspection),
                  f"reject command for part {inspection.part_id} ({inspection.verdict.value})")

    def alarm(self, alarm: Alarm) -> None:
        if self.alarm_argv is None:
            return
        values = {"alarm": alarm.kind, "state": "raised" if alarm.active else "cleared",
                  "message": alarm.message, "station_id": alarm.station_id}
        self._run(fill(self.alarm_argv, values), f"alarm command for {alarm.kind}")

    def _run(self, argv: list[str], what: str) -> None:
        self.runs += 1
        try:
            done = subprocess.run(
                argv, capture_output=True, timeout=self.timeout_s, check=False, text=True
            )
        except subprocess.TimeoutExpired:
            self._fail(what, argv, f"timed out after {self.timeout_s}s")
            return
        except OSError as exc:
            self._fail(what, argv, f"cannot run: {exc}")
            return
        if done.returncode != 0:
            detail = (done.stderr or "").strip()[-500:]
            self._fail(what, argv, f"exit code {done.returncode}: {detail}")

    def _fail(self, what: str, argv: list[str], why: str) -> None:
        self.failures += 1
        logger.error("%s %s: %s", what, argv, why)


def substitute(template: Sequence[str], inspection: Inspection) -> list[str]:
    """The argv with each `{name}` placeholder replaced by the part's value (others kept)."""
    values = {
        "serial": inspection.serial,
        "part_id": inspection.part_id,
        "verdict": inspection.verdict.value,
        "status": inspection.status.value,
        "label": inspection.label or "",
        "station_id": inspection.station_id,
    }
    return fill(template, values)


def fill(template: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Each `{name}` in the argv replaced by its value, unknown names kept as written.

    One pass, so a value that itself contains "{part_id}" is not expanded again.
    """
    return [_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), a) for a in template]
