"""OpcUaLine: an OPC UA server (asyncua) with the station's state, its last result and Trigger.

Modelled after OPC 40100 (Machine Vision) as far as is practical: a simplified vision state
machine (CurrentState), a last result with the ResultType's names (ResultId, PartId, ResultState,
CreationTime, IsPartial) and the station's own result content, a Trigger(PartId) method in
place of StartSingleJob, and GetResultById answered from the station database. Security
(Basic256Sha256 Sign & Encrypt, a user name) is set up by inspector.lineio.opcua_security. See
docs/lineio.md for what is followed and what is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from asyncua import Server, ua
from pydantic import ValidationError

from inspector.control import StationControl
from inspector.domain import Alarm, Inspection, Status
from inspector.errors import InspectorError
from inspector.lineio.base import LineContext, LineState
from inspector.lineio.config import OpcUaLineConfig
from inspector.lineio.opcua_security import SecurityProblem, secure, user_manager
from inspector.lineio.payloads import TriggerMessage, encode, result_payload
from inspector.storage.delivery import DeliveryStore

logger = logging.getLogger(__name__)

V = ua.VariantType
NAN = math.nan
EPOCH = ua.get_win_epoch()  # OPC UA's "no time" (1601-01-01)
ROOT = "Inspector"
STOP_TIMEOUT_S = 10.0
MAX_SCORE_NODES = 64  # per-class score variables made at most (classes beyond: ScoresJson only)

# OPC 40100 ResultStateDataType: 1 Completed, 3 Aborted, 4 Failed (0 Undefined: no result yet).
RESULT_STATE = {Status.OK: 1, Status.BAD_IMAGE: 1, Status.LATE: 3, Status.ABORTED: 3}
FAILED = 4

# The station's variables under Inspector (browse name, variant type, initial value).
STATION_VARS = (
    ("Running", V.Boolean, False),
    ("CameraOnline", V.Boolean, False),
    ("ActiveAlarms", V.String, []),
    ("ModelVersion", V.String, ""),
    ("PartsInspected", V.UInt64, 0),
)
# LastResult's variables, written in this order: Sequence last (subscribe to it, or ResultId).
RESULT_VARS = (
    ("ResultId", V.String, ""),        # the station's part id
    ("PartId", V.String, ""),          # the line's part reference (Trigger's PartId)
    ("Serial", V.String, ""),
    ("SerialSource", V.String, ""),
    ("Verdict", V.String, ""),         # OK | REVIEW | NG
    ("Status", V.String, ""),          # ok | no_frame | bad_image | late | overflow | error | ...
    ("ResultState", V.Int32, 0),
    ("IsPartial", V.Boolean, False),
    ("DefectClass", V.String, ""),
    ("DefectScore", V.Double, NAN),
    ("AnomalyScore", V.Double, NAN),
    ("ScoresJson", V.String, "{}"),
    ("ModelVersion", V.String, ""),
    ("CreationTime", V.DateTime, EPOCH),
    ("CapturedAt", V.DateTime, EPOCH),
    ("LatencyMs", V.Double, NAN),
    ("ResultJson", V.String, ""),      # the MQTT result message, for clients that read JSON
    ("Sequence", V.UInt32, 0),         # rises with each result written
)


# GetResultById's outputs (all String): the row's ids and verdict, and the MQTT result message.
RESULT_OUTPUTS = (
    ("ResultId", "The station's part id."),
    ("PartId", "The line's part reference; empty if none."),
    ("Verdict", "OK, REVIEW or NG."),
    ("Status", "How the row came about: ok, no_frame, bad_image, late, ..."),
    ("ResultJson", "The MQTT result message of the part (scores, model version, times)."),
)


@dataclass(frozen=True)
class OpcUaState(LineState):
    """LineState with the number of client connections."""

    clients: int = 0
    endpoint: str = ""


class OpcUaLine:
    """The station as an OPC UA server.

    asyncua runs its own event loop in its own thread. `emit` (the station's output thread,
    after the row is durable) only puts the row in a one-place mailbox and wakes that loop: the
    server shows the last result, so a row replaced before the loop wrote it is counted
    (`queue_full`), never waited for. Trigger calls run in asyncua's method thread pool and go
    through StationControl, idempotent on PartId.
    """

    protocol = "opcua"

    def __init__(self, cfg: OpcUaLineConfig, ctx: LineContext) -> None:
        self.cfg, self.ctx = cfg, ctx
        self.name = cfg.name
        self.when = "stored"  # results only after the row is durable
        self.failures = 0
        self.triggers = self.bad_triggers = 0
        self.written = self.replaced = self.clients = 0
        self.connected = False
        self.port: int | None = None  # the port really listened on (endpoint port 0: chosen)
        self.ready = threading.Event()  # listening
        self._control: StationControl | None = None
        self._lock = threading.Lock()
        self._pending: Inspection | None = None
        self._alarms: dict[str, str] = {}
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_event: asyncio.Event | None = None
        self._nodes: dict[str, Any] = {}
        self._scores: dict[str, Any] = {}  # class name -> its LastResult.Scores variable
        self._idx = 0
        self._ran = False
        self._shown_alarms: dict[str, str] = {}
        self._store: DeliveryStore | None = None  # GetResultById's reads
        self._store_lock = threading.Lock()
        self.lookups = 0  # results answered by GetResultById

    @classmethod
    def from_config(cls, cfg: OpcUaLineConfig, ctx: LineContext) -> OpcUaLine:
        return cls(cfg, ctx)

    # ---- lifecycle (any thread) ------------------------------------------------------------

    def start(self, control: StationControl | None) -> None:
        self._control = control
        self.open()

    def open(self) -> None:
        """Start the server's thread, once (emit/alarm call it when start did not)."""
        with self._lock:
            if self._thread is not None or self._closed.is_set():
                return
            self._thread = threading.Thread(target=self._run, name=f"lineio-{self.name}",
                                            daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving (clients are disconnected). Idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
        with self._store_lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()

    def state(self) -> OpcUaState:
        return OpcUaState(self.protocol, self.name, self.connected, self.triggers,
                          self.bad_triggers, sent=self.written, delivered=self.written,
                          backlog=int(self._pending is not None), queue_full=self.replaced,
                          clients=self.clients, endpoint=self.endpoint_url())

    def wait_ready(self, timeout: float) -> bool:
        """True once the server listens (tests, benchmarks)."""
        return self.ready.wait(timeout)

    def endpoint_url(self) -> str:
        """The endpoint with the port really listened on."""
        parts = urlsplit(self.cfg.endpoint)
        if self.port is None or parts.port == self.port:
            return self.cfg.endpoint
        netloc = parts.netloc.rsplit(":", 1)[0] + f":{self.port}"
        return parts._replace(netloc=netloc).geturl()

    # ---- station output (the output thread) ---------------------------------------------------

    def emit(self, inspection: Inspection) -> None:
        if not self.cfg.results:
            return
        self.open()
        with self._lock:
            if self._pending is not None:
                self.replaced += 1
            self._pending = inspection
        self._wake()

    def alarm(self, alarm: Alarm) -> None:
        self.open()
        with self._lock:
            if alarm.active:
                self._alarms[alarm.kind] = alarm.message
            else:
                self._alarms.pop(alarm.kind, None)
        self._wake()

    def _wake(self) -> None:
        loop, event = self._loop, self._wake_event
        if loop is None or event is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has ended
            loop.call_soon_threadsafe(event.set)

    # ---- the server's thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # the thread's top: the station goes on without its OPC UA server
            self.failures += 1
            logger.exception("line opcua %s: the server thread failed", self.name)
        finally:
            self.connected = False

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake_event = asyncio.Event()
        if logging.getLogger("asyncua").level == logging.NOTSET:
            logging.getLogger("asyncua").setLevel(logging.WARNING)  # a line per method call
        while not self._closed.is_set():
            server = await self._start_server()
            if server is None:
                await self._sleep(self.cfg.retry_s)
                continue
            try:
                await self._serve(server)
            finally:
                self.connected = False
                self.ready.clear()
                await server.stop()
                logger.info("line opcua %s: stopped", self.name)

    async def _sleep(self, seconds: float) -> None:
        """Wait for news (a result, an alarm, close) or `seconds`."""
        assert self._wake_event is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake_event.wait(), seconds)
        self._wake_event.clear()

    async def _start_server(self) -> Server | None:
        security = self.cfg.security
        try:
            server = Server(user_manager=user_manager(security))
            await server.init()
            server.set_endpoint(self.cfg.endpoint)
            server.set_server_name(f"Inspector {self.ctx.station_id}")
            if security is not None:
                await secure(server, security)
            else:  # the config allows this on loopback, or with allow_insecure
                server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
                server.set_identity_tokens([ua.AnonymousIdentityToken])
        except SecurityProblem as exc:
            self.failures += 1
            logger.error("line opcua %s: cannot serve securely: %s; trying again in %g s",
                         self.name, exc, self.cfg.retry_s)
            return None
        server.iserver.max_connections = self.cfg.max_clients
        await self._build(server)
        try:
            await server.start()
        except OSError as exc:
            self.failures += 1
            logger.error("line opcua %s: cannot serve %s (%s); trying again in %g s", self.name,
                         self.cfg.endpoint, exc, self.cfg.retry_s)
            return None
        self.port = server.bserver.port if server.bserver is not None else None
        self.connected = True
        self.ready.set()
        logger.info("line opcua %s: serving %s", self.name, self.endpoint_url())
        return server

    async def _serve(self, server: Server) -> None:
        next_state = 0.0
        while not self._closed.is_set():
            try:
                row = self._take()
                if row is not None:
                    await self._write_result(row)
                if time.monotonic() >= next_state or self._alarms_changed():
                    next_state = time.monotonic() + self.cfg.state_interval_s
                    await self._write_state()
                bserver = server.bserver
                self.clients = len(bserver.clients) if bserver is not None else 0
            except Exception:  # the loop's top: a failed write never stops the server
                self.failures += 1
                logger.exception("line opcua %s: updating the nodes failed", self.name)
            await self._sleep(self.cfg.state_interval_s)

    def _take(self) -> Inspection | None:
        with self._lock:
            row, self._pending = self._pending, None
        return row

    # ---- the address space ----------------------------------------------------------------------

    async def _build(self, server: Server) -> None:
        idx = await server.register_namespace(self.cfg.namespace_uri)
        self._idx = idx
        root = await server.nodes.objects.add_object(_id(idx, ROOT), ua.QualifiedName(ROOT, idx))
        self._nodes, self._scores = {}, {}
        await root.add_property(_id(idx, ROOT, "StationId"), ua.QualifiedName("StationId", idx),
                                ua.Variant(self.ctx.station_id, V.String))
        machine = await root.add_object(_id(idx, ROOT, "VisionStateMachine"),
                                        ua.QualifiedName("VisionStateMachine", idx))
        await self._variable(machine, "VisionStateMachine.CurrentState", V.String, "Preoperational")
        for name, vtype, value in STATION_VARS:
            await self._variable(root, name, vtype, value)
        if self.cfg.results:
            result = await root.add_object(_id(idx, ROOT, "LastResult"),
                                           ua.QualifiedName("LastResult", idx))
            for name, vtype, value in RESULT_VARS:
                await self._variable(result, f"LastResult.{name}", vtype, value)
            self._nodes["LastResult.Scores"] = await result.add_object(
                _id(idx, ROOT, "LastResult", "Scores"), ua.QualifiedName("Scores", idx))
        if self.cfg.triggers:
            await self._methods(root, idx)
        if self.cfg.results:
            await root.add_method(
                _id(idx, ROOT, "GetResultById"), ua.QualifiedName("GetResultById", idx),
                self._call_get_result,
                [_argument("Id", "A ResultId (the station's part id, as Trigger returned it) or "
                           "the line's PartId.")],
                [_argument(name, what) for name, what in RESULT_OUTPUTS])

    async def _variable(self, parent, path: str, vtype: ua.VariantType, value: Any):
        """A variable with node id ns=<idx>;s=Inspector.<path>, named by path's last part."""
        node = await parent.add_variable(_id(self._idx, ROOT, path),
                                         ua.QualifiedName(path.rsplit(".", 1)[-1], self._idx),
                                         ua.Variant(value, vtype), datatype=vtype.value)
        self._nodes[path] = node
        return node

    async def _methods(self, root, idx: int) -> None:
        part = _argument("PartId", "The line's reference of the part (idempotent); empty: none.")
        serial = _argument("Serial", "The part's serial, when the line knows it; empty: none.")
        out = _argument("ResultId", "The station's part id (LastResult.ResultId once judged).")
        await root.add_method(_id(idx, ROOT, "Trigger"), ua.QualifiedName("Trigger", idx),
                              self._call_trigger, [part], [out])
        await root.add_method(_id(idx, ROOT, "TriggerWithSerial"),
                              ua.QualifiedName("TriggerWithSerial", idx), self._call_trigger,
                              [part, serial], [out])

    async def _write(self, path: str, vtype: ua.VariantType, value: Any) -> None:
        await self._nodes[path].write_value(ua.Variant(value, vtype))

    async def _write_result(self, row: Inspection) -> None:
        values = result_values(row)
        await self._write_scores(row)
        for name, vtype, _ in RESULT_VARS[:-1]:
            await self._write(f"LastResult.{name}", vtype, values[name])
        self.written += 1
        await self._write("LastResult.Sequence", V.UInt32, self.written % 2**32)

    async def _write_scores(self, row: Inspection) -> None:
        """One Double per class under LastResult.Scores, made when a class first appears."""
        scores = {str(k): _number(v) for k, v in dict(row.scores or {}).items()}
        parent = self._nodes["LastResult.Scores"]
        for label in scores:
            if label not in self._scores and len(self._scores) < MAX_SCORE_NODES:
                node = await parent.add_variable(
                    _id(self._idx, ROOT, "LastResult", "Scores", label),
                    ua.QualifiedName(label, self._idx), ua.Variant(NAN, V.Double),
                    datatype=V.Double.value)
                self._scores[label] = node
        for label, node in self._scores.items():
            await node.write_value(ua.Variant(scores.get(label, NAN), V.Double))

    async def _write_state(self) -> None:
        status, version = await asyncio.to_thread(self._station_facts)
        running = bool(status and status.get("running"))
        self._ran = self._ran or running
        with self._lock:
            alarms = set(self._alarms) | set((status or {}).get("alarms") or [])
            self._shown_alarms = dict(self._alarms)
        await self._write("VisionStateMachine.CurrentState", V.String,
                          vision_state(running, self._ran, alarms))
        await self._write("Running", V.Boolean, running)
        await self._write("CameraOnline", V.Boolean, bool(status and status.get("camera_online")))
        await self._write("ActiveAlarms", V.String, sorted(alarms))
        await self._write("ModelVersion", V.String, version)
        await self._write("PartsInspected", V.UInt64, int((status or {}).get("parts") or 0))

    def _alarms_changed(self) -> bool:
        with self._lock:
            return self._alarms != self._shown_alarms

    def _station_facts(self) -> tuple[dict[str, Any] | None, str]:
        """The station's status and model version (a worker thread: status may take a moment)."""
        control = self._control
        if control is None:
            return None, ""
        status = control.status()
        try:
            return status, control.active_model().version
        except InspectorError as exc:  # no model loaded
            logger.debug("line opcua %s: no model version: %s", self.name, exc)
            return status, ""

    # ---- Trigger (asyncua's method threads) -----------------------------------------------------

    def _call_trigger(self, parent: ua.NodeId, *args: ua.Variant) -> list[ua.Variant] | ua.StatusCode:
        """Trigger(PartId) / TriggerWithSerial(PartId, Serial) -> ResultId (the part id)."""
        problem, msg = parse_call(args)
        if msg is None:
            return self._refuse(problem, args)
        control = self._control
        if control is None:
            return self._refuse(ua.StatusCodes.BadInvalidState, args, "no station control")
        try:
            receipt = control.trigger(msg.serial, msg.part_ref)
        except InspectorError as exc:  # StationStateError: not running, trigger type
            return self._refuse(ua.StatusCodes.BadInvalidState, args, str(exc))
        self.triggers += 1
        return [ua.Variant(receipt.part_id, V.String)]

    # ---- GetResultById (asyncua's method threads) ------------------------------------------------

    def _call_get_result(self, parent: ua.NodeId, *args: ua.Variant) -> list[ua.Variant] | ua.StatusCode:
        """GetResultById(Id) -> ResultId, PartId, Verdict, Status, ResultJson from the store."""
        if len(args) != 1:
            code = ua.StatusCodes.BadArgumentsMissing if not args else ua.StatusCodes.BadTooManyArguments
            return ua.StatusCode(code)
        arg = args[0]
        if arg.VariantType != V.String or arg.is_array:
            return ua.StatusCode(ua.StatusCodes.BadTypeMismatch)
        key = arg.Value or ""
        if not key or len(key) > 128:
            return ua.StatusCode(ua.StatusCodes.BadInvalidArgument)
        try:
            found = self._results().result(self.ctx.station_id, key)
        except InspectorError as exc:  # StoreError: the database is away
            logger.warning("line opcua %s: GetResultById(%r): %s", self.name, key[:64], exc)
            return ua.StatusCode(ua.StatusCodes.BadResourceUnavailable)
        if found is None:  # not judged and stored yet, or no such part
            return ua.StatusCode(ua.StatusCodes.BadNotFound)
        self.lookups += 1
        values = result_values(found[1])
        values["ResultJson"] = encode(result_payload(found[1], found[0])).decode()
        return [ua.Variant(values[name], V.String) for name, _ in RESULT_OUTPUTS]

    def _results(self) -> DeliveryStore:
        """The station database, opened at the first lookup (pooled: any method thread)."""
        with self._store_lock:  # not _lock: emit must not wait for a database being opened
            if self._store is None:
                self._store = DeliveryStore.open(self.ctx.db_url)
            return self._store

    def _refuse(self, code: int, args: tuple, why: str = "") -> ua.StatusCode:
        self.bad_triggers += 1
        status = ua.StatusCode(code)
        logger.warning("line opcua %s: trigger refused (%s%s): %s", self.name, status.name,
                       f": {why}" if why else "", [repr(a.Value)[:64] for a in args[:3]])
        return status


def parse_call(args: tuple) -> tuple[int, TriggerMessage | None]:
    """The trigger in a method call's arguments, or the status code that refuses it."""
    if not args:
        return ua.StatusCodes.BadArgumentsMissing, None
    if len(args) > 2:
        return ua.StatusCodes.BadTooManyArguments, None
    values = []
    for arg in args:
        if arg.VariantType == V.Null:
            values.append(None)
        elif arg.VariantType == V.String and not arg.is_array:
            values.append(arg.Value or None)
        else:
            return ua.StatusCodes.BadTypeMismatch, None
    part_ref, serial = [*values, None][:2]
    try:
        return ua.StatusCodes.Good, TriggerMessage(part_ref=part_ref, serial=serial)
    except ValidationError:
        return ua.StatusCodes.BadInvalidArgument, None


def vision_state(running: bool, ran: bool, alarms: set[str]) -> str:
    """The simplified VisionStateMachine state: Preoperational, Operational, Error, Halted."""
    if running:
        return "Error" if "camera_offline" in alarms else "Operational"
    return "Halted" if ran else "Preoperational"


def result_values(row: Inspection) -> dict[str, Any]:
    """LastResult's values of one stored row (missing text "", missing numbers NaN)."""
    scores = {str(k): _number(v) for k, v in dict(row.scores or {}).items()}
    return {
        "ResultId": row.part_id,
        "PartId": row.part_ref or "",
        "Serial": row.serial or "",
        "SerialSource": str(row.serial_source),
        "Verdict": str(row.verdict),
        "Status": str(row.status),
        "ResultState": RESULT_STATE.get(row.status, FAILED),
        "IsPartial": False,
        "DefectClass": row.label or "",
        "DefectScore": _number(row.defect_score),
        "AnomalyScore": _number(row.anomaly_score),
        "ScoresJson": json.dumps({k: None if math.isnan(v) else v for k, v in scores.items()}),
        "ModelVersion": row.model_version or "",
        "CreationTime": row.inspected_at,
        "CapturedAt": row.captured_at or EPOCH,
        "LatencyMs": _number(row.latency_ms),
        "ResultJson": encode(result_payload(row)).decode(),
    }


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return NAN
    return number if math.isfinite(number) else NAN


def _id(idx: int, *path: str) -> ua.NodeId:
    return ua.NodeId(".".join(path), idx)


def _argument(name: str, description: str) -> ua.Argument:
    arg = ua.Argument()
    arg.Name = name
    arg.DataType = ua.NodeId(ua.ObjectIds.String)
    arg.ValueRank = -1
    arg.Description = ua.LocalizedText(description)
    return arg
