"""Reject outputs: placeholders, failures counted not raised, the registry, the log output."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

from inspector.config import CommandOutputConfig, LogOutputConfig
from inspector.domain import Inspection, SerialSource, Status, Verdict
from inspector.outputs import CommandOutput, LogOutput, build_outputs
from inspector.outputs.command import substitute


def row(verdict: Verdict = Verdict.NG, serial: str = "SN-1") -> Inspection:
    now = datetime.now(UTC)
    return Inspection(part_id="p1", station_id="s1", serial=serial,
                      serial_source=SerialSource.TRIGGER, captured_at=now, inspected_at=now,
                      status=Status.OK, verdict=verdict, label="crack", defect_score=0.9)


def test_substitute_is_single_pass_and_keeps_unknown_braces():
    argv = substitute(["relay", "{verdict}", "{serial}", "{unknown}"], row(serial="{part_id}"))
    assert argv == ["relay", "NG", "{part_id}", "{unknown}"]


def test_command_timeout_and_missing_program_are_counted_not_raised():
    slow = CommandOutput({Verdict.NG: [sys.executable, "-c", "import time; time.sleep(5)"]},
                         timeout_s=0.2)
    slow.emit(row())
    missing = CommandOutput({Verdict.NG: ["/nonexistent/relay-tool"]})
    missing.emit(row())
    missing.emit(row(Verdict.OK))  # no command for OK: nothing runs
    assert (slow.failures, missing.failures, missing.runs) == (1, 1, 1)


def test_registry_builds_outputs_from_config():
    outputs = build_outputs([
        LogOutputConfig(type="log"),
        CommandOutputConfig(type="command", review=["echo", "{serial}"]),
    ])
    assert isinstance(outputs[0], LogOutput) and isinstance(outputs[1], CommandOutput)
    assert list(outputs[1].commands) == [Verdict.REVIEW]


def test_log_output_warns_for_ng(caplog):
    with caplog.at_level(logging.INFO, logger="inspector.verdicts"):
        LogOutput().emit(row())
        LogOutput().emit(row(Verdict.OK))
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING, logging.INFO]
    assert "serial=SN-1 verdict=NG" in caplog.records[0].getMessage()


def test_command_output_runs_its_alarm_argv_with_the_alarm_substituted(tmp_path):
    from datetime import UTC, datetime

    from inspector.domain import Alarm

    target = tmp_path / "alarm.txt"
    out = CommandOutput({}, alarm=["sh", "-c", f"echo {{alarm}} {{state}} {{station_id}} > {target}"])
    out.alarm(Alarm("camera_offline", True, "camera lost", "line-3", datetime.now(UTC)))
    assert target.read_text().split() == ["camera_offline", "raised", "line-3"]
    assert out.failures == 0
