"""The OPC UA line: an asyncua client triggers a part, reads its result node, sees its row."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asyncua import Client, ua

from inspector.commands.api_server import station_api, station_control
from inspector.commands.preflight import lineio_problems
from inspector.config import ConfigValidationError, StationConfig, parse_config
from inspector.domain import Inspection, SerialSource, Status, Verdict
from inspector.lineio.base import LineContext
from inspector.lineio.config import OpcUaLineConfig
from inspector.lineio.opcua import OpcUaLine
from inspector.pipeline.station import Station
from inspector.storage.store import InspectionStore
from tests.faults.inputs import TILES
from tests.lineio.helpers import BUNDLE
from tests.pipeline.fakes import FakeClassifier
from tests.rows import stored_rows

NS = "urn:inspector:station"
ENDPOINT = "opc.tcp://127.0.0.1:0"  # any free port


def _config(tmp_path: Path, **line) -> StationConfig:
    """A station with an external trigger over a looping folder of tiles and one OPC UA line."""
    folder = tmp_path / "line"
    folder.mkdir(exist_ok=True)
    for tile in TILES[:4]:
        shutil.copy(tile, folder / tile.name)
    return StationConfig.model_validate({
        "station": {"id": f"t{uuid.uuid4().hex[:10]}", "data_dir": str(tmp_path / "data")},
        "source": {"type": "folder", "path": str(folder), "loop": True},
        "trigger": {"type": "external", "max_skew_s": 5.0},
        "model": {"bundle": str(BUNDLE)},
        "outputs": [],
        "api": {"enabled": False},
        "lineio": [{"type": "opcua", "endpoint": ENDPOINT, "state_interval_s": 0.2, **line}],
    })


def run_client(coroutine):
    """Run an OPC UA client coroutine on its own thread and loop: the test's thread may already
    run one (a browser test's playwright leaves a loop behind in the same process)."""
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed back to the test's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="opcua-test-client")
    thread.start()
    thread.join(120)
    if "error" in result:
        raise result["error"]
    return result["value"]


async def _value(client: Client, idx: int, path: str):
    return await client.get_node(f"ns={idx};s=Inspector.{path}").read_value()


async def _wait_value(client: Client, idx: int, path: str, expected, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while (value := await _value(client, idx, path)) != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return value


async def _plc(url: str) -> dict:
    """What a PLC does: trigger, wait for the result, retry, and a few wrong calls."""
    seen: dict = {}
    async with Client(url, timeout=10) as client:
        idx = await client.get_namespace_index(NS)
        station = client.get_node(f"ns={idx};s=Inspector")
        trigger = f"{idx}:Trigger"
        seen["state"] = await _wait_value(client, idx, "VisionStateMachine.CurrentState",
                                          "Operational")
        part_id = await station.call_method(trigger, "PLC-1")
        seen["part_id"] = part_id
        seen["result_id"] = await _wait_value(client, idx, "LastResult.ResultId", part_id)
        for name in ("PartId", "Verdict", "Status", "ResultState", "DefectClass", "ScoresJson",
                     "ModelVersion", "Serial", "CreationTime", "Sequence"):
            seen[name] = await _value(client, idx, f"LastResult.{name}")
        seen["scores_nodes"] = {
            (await n.read_browse_name()).Name: await n.read_value()
            for n in await client.get_node(f"ns={idx};s=Inspector.LastResult.Scores").get_children()}
        seen["again"] = await station.call_method(trigger, "PLC-1")  # a retry: the same part
        seen["errors"] = []
        for args in ([ua.Variant(7, ua.VariantType.Int32)], ["has space"], ["x" * 200], []):
            with pytest.raises(ua.UaStatusCodeError) as err:
                await station.call_method(trigger, *args)
            seen["errors"].append(type(err.value).__name__)
        second = await station.call_method(f"{idx}:TriggerWithSerial", "PLC-2", "SN-2")
        seen["second"] = second
        seen["second_serial"] = await _wait_value(client, idx, "LastResult.Serial", "SN-2")
    return seen


def test_a_client_triggers_a_part_reads_its_result_and_the_row_is_stored(tmp_path):
    cfg = _config(tmp_path)
    station = Station.from_config(cfg, FakeClassifier(), store=InspectionStore.open(cfg.db_url()))
    line = station.parts.outputs[-1]
    assert isinstance(line, OpcUaLine)
    with station_api(cfg, station):
        station.start()
        assert line.wait_ready(20)
        seen = run_client(_plc(line.endpoint_url()))
        status = station_control(cfg, station).status()
        assert station.stop(30)
    rows = {r.part_ref: r for r in stored_rows(tmp_path / "data")}
    assert set(rows) == {"PLC-1", "PLC-2"}  # the retry and the wrong calls made no part
    row = rows["PLC-1"]
    assert seen["state"] == "Operational"
    assert seen["part_id"] == seen["again"] == seen["result_id"] == row.part_id
    assert seen["PartId"] == "PLC-1" and seen["Verdict"] == row.verdict.value
    assert seen["Status"] == row.status.value and seen["ResultState"] == 1
    assert seen["DefectClass"] == (row.label or "") and seen["ModelVersion"] == row.model_version
    assert json.loads(seen["ScoresJson"]) == pytest.approx(dict(row.scores))
    assert seen["scores_nodes"] == pytest.approx(dict(row.scores))
    creation = seen["CreationTime"].replace(tzinfo=seen["CreationTime"].tzinfo or UTC)
    assert abs(creation - row.inspected_at) < timedelta(milliseconds=1) and seen["Sequence"] >= 1
    assert seen["errors"] == ["BadTypeMismatch", "BadInvalidArgument", "BadInvalidArgument",
                              "BadArgumentsMissing"]
    assert seen["second"] == rows["PLC-2"].part_id and rows["PLC-2"].serial == "SN-2"
    lines = status["extra"]["lineio"]
    assert lines[0]["protocol"] == "opcua" and lines[0]["connected"] is True
    state = line.state()
    assert state.triggers == 3 and state.bad_triggers == 4 and not state.connected


def _row(i: int) -> Inspection:
    now = datetime.now(UTC)
    return Inspection(f"p{i}", "s1", f"SN{i}", SerialSource.TRIGGER, now, now, Status.OK,
                      Verdict.NG, label="crack", defect_score=0.9,
                      scores={"crack": 0.9, "good": 0.1}, part_ref=f"R{i}")


async def _read_last(url: str) -> tuple:
    async with Client(url, timeout=10) as client:
        idx = await client.get_namespace_index(NS)
        result_id = await _wait_value(client, idx, "LastResult.ResultId", "p999")
        refused = ""
        try:
            await client.get_node(f"ns={idx};s=Inspector").call_method(f"{idx}:Trigger", "R1")
        except ua.UaStatusCodeError as exc:
            refused = type(exc).__name__
        return (result_id, await _value(client, idx, "LastResult.Sequence"),
                await _value(client, idx, "VisionStateMachine.CurrentState"), refused)


def test_emit_never_waits_for_the_server_and_the_last_result_wins(tmp_path):
    line = OpcUaLine(OpcUaLineConfig(type="opcua", endpoint=ENDPOINT), LineContext("s1", ""))
    try:
        t0 = time.monotonic()
        for i in range(1000):  # the server is still starting: each row replaces the one before
            line.emit(_row(i))
        # Not a speed test: an emit that waited for the server (1-3 s to start) would make the
        # 1,000 take far longer than this generous bound, on however busy a machine.
        assert time.monotonic() - t0 < 5.0
        assert line.wait_ready(20)
        result_id, sequence, state, refused = run_client(_read_last(line.endpoint_url()))
    finally:
        line.close()
    assert result_id == "p999" and sequence == line.state().sent
    assert line.state().queue_full + line.state().sent == 1000
    assert state == "Preoperational" and refused == "BadInvalidState"  # no station behind it


def test_endpoint_urls_are_checked_when_the_config_loads():
    def issues(**line):
        with pytest.raises(ConfigValidationError) as err:
            parse_config({"source": {"type": "folder", "path": "x"},
                          "lineio": [{"type": "opcua", **line}]})
        return err.value.issues

    assert issues(endpoint="http://127.0.0.1:4840")[0].startswith("lineio.0.endpoint: scheme")
    assert issues(endpoint="opc.tcp://127.0.0.1")[0].startswith("lineio.0.endpoint: no port")
    assert "not loopback" in issues(endpoint="opc.tcp://0.0.0.0:4840")[0]
    assert issues(bogus=1)[0].startswith("lineio.0.bogus:")
    ok = parse_config({"source": {"type": "folder", "path": "x"}, "lineio": [
        {"type": "opcua", "endpoint": "opc.tcp://0.0.0.0:4840/inspector", "allow_insecure": True}]})
    assert ok.lineio[0].name == "opcua"
    assert all(f.description for f in OpcUaLineConfig.model_fields.values())


def test_check_config_finds_shared_ports_and_triggers_the_station_refuses():
    cfg = parse_config({"source": {"type": "folder", "path": "x"},
                        "api": {"port": 4841},
                        "lineio": [{"type": "opcua"}, {"type": "mqtt"},
                                   {"type": "opcua", "name": "b", "endpoint": "opc.tcp://[::1]:4840"},
                                   {"type": "opcua", "name": "c", "triggers": False,
                                    "endpoint": "opc.tcp://127.0.0.1:4841"}]})
    problems = lineio_problems(cfg)
    assert "lineio.2.endpoint: port 4840 is used by another OPC UA line" in problems
    assert "lineio.3.endpoint: port 4841 is the HTTP API's (api.port)" in problems
    assert any(p.startswith("lineio.0.triggers: the station refuses") for p in problems)
    assert not any(p.startswith("lineio.3.triggers") for p in problems)
