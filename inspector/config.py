"""Pydantic models of station.yaml (`StationConfig`) and `load_config` with `path.to.key` errors."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inspector.api.config import ApiSection
from inspector.capture.config import SourceConfig
from inspector.errors import ConfigError
from inspector.lineio.config import LineConfig
from inspector.serials.config import (
    CodeReaderConfig,
    FilenameReaderConfig,
    ManifestReaderConfig,
    TriggerReaderConfig,
)
from inspector.trace.config import AlertsConfig, MqttEventsConfig, RootCauseConfig

DEFAULT_MODEL = Path("weights/magnetic-tile")
ENV_DATA_DIR = "INSPECTOR_DATA_DIR"
ENV_DB_URL = "INSPECTOR_DB_URL"
ENV_API_PORT = "INSPECTOR_API_PORT"


class ConfigValidationError(ConfigError):
    """A station.yaml that does not validate; `issues` holds one `path.to.key: message` each."""

    def __init__(self, source: str, issues: list[str]) -> None:
        self.issues = issues
        super().__init__(f"{source}: {len(issues)} error(s)\n" + "\n".join(issues))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- station ---------------------------------------------------------------------------------


class StationSection(_Model):
    id: str = Field(
        default="station-1",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Station name stored in every row and in the status row.",
    )
    data_dir: Path = Field(
        default=Path("./var"),
        description="Folder for the SQLite database, images and the journal "
        f"(environment override: {ENV_DATA_DIR}).",
    )


# ---- trigger ---------------------------------------------------------------------------------


class Roi(_Model):
    x: float = Field(default=0.25, ge=0, lt=1, description="Left edge, fraction of frame width.")
    y: float = Field(default=0.25, ge=0, lt=1, description="Top edge, fraction of frame height.")
    w: float = Field(default=0.5, gt=0, le=1, description="Width, fraction of frame width.")
    h: float = Field(default=0.5, gt=0, le=1, description="Height, fraction of frame height.")

    @model_validator(mode="after")
    def _inside(self) -> Roi:
        if self.x + self.w > 1.0 + 1e-9 or self.y + self.h > 1.0 + 1e-9:
            raise ValueError("roi must lie inside the frame: x + w <= 1 and y + h <= 1")
        return self


class PerFrameTrigger(_Model):
    type: Literal["per_frame"] = Field(
        description="Every frame is one part: folder replays and indexed stations."
    )


class PresenceTrigger(_Model):
    type: Literal["presence"] = Field(
        description="A part entering the region of interest is inspected once it settles."
    )
    roi: Roi = Field(default_factory=Roi, description="Region where parts come to rest.")
    threshold: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description="Per-pixel difference from the background (fraction of full scale, after "
        "brightness normalisation) that counts as changed.",
    )
    min_area: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Fraction of ROI pixels that must change for a part to be present.",
    )
    settle_frames: int = Field(
        default=3, ge=1, description="Consecutive still frames before the part is inspected."
    )
    settle_threshold: float = Field(
        default=0.012,
        gt=0,
        description="Mean frame-to-frame difference in the ROI below which a frame is still.",
    )
    max_settle_frames: int = Field(
        default=45,
        ge=1,
        description="A part that never settles is inspected on its best frame after this many.",
    )
    clear_frames: int = Field(
        default=2, ge=1, description="Consecutive empty frames before the trigger re-arms."
    )
    background_alpha: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="How fast the empty-scene background follows slow lighting changes.",
    )
    analysis_width: int = Field(
        default=160, ge=16, le=1024, description="Frames are downscaled to this width to analyse."
    )


class ExternalTrigger(_Model):
    type: Literal["external"] = Field(
        description="Parts are announced from outside: POST /api/v1/trigger (an operator key) or "
        "a PLC/MES over a `lineio` protocol (MQTT, OPC UA)."
    )
    max_skew_s: float = Field(
        default=0.2,
        gt=0,
        le=10,
        description="Farthest a frame may be from the trigger time; none that close: `no_frame`.",
    )
    history_frames: int = Field(
        default=16, ge=1, le=512, description="Recent frames kept to pick the nearest one from."
    )


TriggerConfig = Annotated[
    PerFrameTrigger | PresenceTrigger | ExternalTrigger, Field(discriminator="type")
]


# ---- model, serial ---------------------------------------------------------------------------


class ModelSection(_Model):
    bundle: Path = Field(
        default=DEFAULT_MODEL,
        description="Model bundle folder (card.json + model.onnx/model.pt), relative to the "
        "working directory.",
    )
    backend: Literal["onnx", "torch"] = Field(
        default="onnx", description="Inference runtime; onnx needs no torch on the station."
    )
    batch_max: int = Field(
        default=2, ge=1, le=256,
        description="Most queued parts classified in one model call (2: on a 2-core CPU larger "
        "batches outgrow the caches and run slower per part; "
        "docs/experiments/benchmarks-history.md, issue 32).",
    )
    inference_threads: int = Field(
        default=2, ge=1, le=16,
        description="Parts judged side by side, each on one ONNX Runtime thread (1: one part at "
        "a time on two). On 2 cores the station judged 1.2-1.35x as many parts a second with 2 as "
        "with 1, each part taking a little longer (docs/benchmarks.md, issue 32).",
    )
    roi: Roi | None = Field(
        default=None,
        description="Region of the frame given to the model (where the fixture holds the part); "
        "default: the whole frame.",
    )
    trim_background: bool = Field(
        default=False,
        description="Trim the region to the part: pixels clearly brighter than the dark belt seen "
        "just outside the region (a bright/dark split when no belt is in view); the region is "
        "kept whole when no part stands out.",
    )


class GeneratedSerial(_Model):
    type: Literal["generated"] = Field(
        description="No serial reader: the trigger's serial or the manifest hint when given, "
        "else a unique generated id (serial_source `generated`)."
    )


# The readers (code, trigger, manifest, filename) and their settings live in inspector.serials.
SerialConfig = Annotated[
    GeneratedSerial
    | CodeReaderConfig
    | TriggerReaderConfig
    | ManifestReaderConfig
    | FilenameReaderConfig,
    Field(discriminator="type"),
]


# ---- storage, outputs, queues ----------------------------------------------------------------


class ImagesSection(_Model):
    ok_sample_rate: float = Field(
        default=0.05, ge=0, le=1, description="Share of OK frames saved (NG/REVIEW: always)."
    )
    max_gb: float = Field(
        default=20.0, gt=0, description="Disk budget of the image folder; oldest deleted first."
    )
    max_age_days: float = Field(
        default=90.0, gt=0, description="Images older than this are deleted (rows never are)."
    )


class ForwardSection(_Model):
    batch_rows: int = Field(
        default=500, ge=1, le=10_000,
        description="Queued rows written to the central database per transaction at most.",
    )
    heartbeat_s: float = Field(
        default=5.0, gt=0, le=300,
        description="When nothing is queued, the central stations row is touched this often.",
    )
    backoff_max_s: float = Field(
        default=10.0, gt=0, le=600,
        description="Longest wait between tries while the central database is away "
        "(the wait doubles from 0.5 s up to this).",
    )


class StorageSection(_Model):
    url: str | None = Field(
        default=None,
        description="Database URL; default SQLite in data_dir "
        f"(environment override: {ENV_DB_URL}).",
    )
    central_url: str | None = Field(
        default=None,
        description="Central PostgreSQL the station forwards its rows to (store-and-forward: "
        "rows are written locally first). `${NAME}` is replaced by the environment variable "
        "NAME, e.g. postgresql+psycopg://inspector:${INSPECTOR_CENTRAL_PASSWORD}@db/plant.",
    )
    station_api_url: str | None = Field(
        default=None,
        description="This station's API address as the central service reaches it (it fetches "
        "part images there), e.g. http://10.0.4.21:8080.",
    )
    forward: ForwardSection = Field(
        default_factory=ForwardSection, description="How rows are forwarded to central_url."
    )
    batch_size: int = Field(default=32, ge=1, le=10_000, description="Rows per write at most.")
    flush_interval_s: float = Field(
        default=0.5, gt=0, le=60, description="Longest a finished row waits before being written."
    )
    retry_interval_s: float = Field(
        default=5.0, gt=0, description="How often a lost database is retried (journal replay)."
    )
    status_interval_s: float = Field(
        default=2.0, gt=0, description="How often metrics are written to the station status row."
    )
    images: ImagesSection = Field(
        default_factory=ImagesSection, description="Image archive of inspected frames."
    )


class LogOutputConfig(_Model):
    type: Literal["log"] = Field(description="Log each verdict (INFO; NG and REVIEW at WARNING).")
    when: Literal["stored", "immediate"] = Field(
        default="stored",
        description="`stored`: told once the part's row is committed or journaled (never about a "
        "part without a durable row); `immediate`: the reject signal's fast path, told as soon "
        "as the verdict exists, after the row is fsynced to the signal journal.",
    )


class CommandOutputConfig(_Model):
    type: Literal["command"] = Field(
        description="Run a command per verdict, e.g. to drive a reject relay."
    )
    ng: list[str] | None = Field(
        default=None,
        min_length=1,
        description="argv run for NG parts; {serial}, {part_id}, {verdict}, {status}, {label} "
        "and {station_id} are substituted (no shell: a value cannot inject a command).",
    )
    review: list[str] | None = Field(
        default=None, min_length=1, description="argv run for REVIEW parts."
    )
    ok: list[str] | None = Field(default=None, min_length=1, description="argv run for OK parts.")
    alarm: list[str] | None = Field(
        default=None, min_length=1,
        description="argv run for each alarm (camera offline/online, store unreachable, "
        "deadline misses); {alarm}, {state}, {message}, {station_id} are substituted.",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=300, description="Command time limit.")
    when: Literal["stored", "immediate"] = Field(
        default="immediate",
        description="`immediate` (default: a reject relay must not wait for the database): told "
        "as soon as the verdict exists, after the row is fsynced to the signal journal; "
        "`stored`: once the row is committed or journaled.",
    )

    @model_validator(mode="after")
    def _any(self) -> CommandOutputConfig:
        if not (self.ng or self.review or self.ok or self.alarm):
            raise ValueError("give a command for at least one of ng, review, ok, alarm")
        return self


OutputConfig = Annotated[LogOutputConfig | CommandOutputConfig, Field(discriminator="type")]


class QueuesSection(_Model):
    frames: int = Field(
        default=4, ge=1, le=1024, description="Frame ring between capture and trigger."
    )
    jobs: int = Field(
        default=64,
        ge=1,
        le=100_000,
        description="Inspection backlog; when full, live parts are recorded as `overflow`.",
    )
    results: int = Field(
        default=1024, ge=1, le=1_000_000, description="Finished rows waiting for the store."
    )
    outputs: int = Field(
        default=1024, ge=1, le=1_000_000, description="Verdicts waiting for the reject outputs."
    )
    triggers: int = Field(
        default=256, ge=1, le=100_000, description="External trigger requests waiting."
    )


class VerdictsSection(_Model):
    deadline_s: float | None = Field(
        default=None, gt=0, le=3600,
        description="Verdict deadline per part, from its trigger: a part not judged in time gets "
        "a `late` row with the `late` verdict (the backlog is bounded by age too). Off when null.",
    )
    late: Literal["REVIEW", "NG"] = Field(
        default="REVIEW", description="Verdict of a late part: REVIEW (a person looks) or NG (reject)."
    )
    bad_image: Literal["REVIEW", "NG"] = Field(
        default="REVIEW",
        description="Verdict of a part whose image is unusable (unreadable, blank, exposure, focus, "
        "size): never OK.",
    )


# ---- upstream process data -------------------------------------------------------------------


class TraceSection(_Model):
    mqtt: MqttEventsConfig = Field(
        default_factory=MqttEventsConfig,
        description="MQTT subscriber for upstream process events, started beside the station "
        "(and `inspector serve`) when enabled.",
    )
    root_cause: RootCauseConfig = Field(
        default_factory=RootCauseConfig, description="Thresholds of the root-cause analysis."
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig, description="Predictive alerts: CUSUM monitors on the "
        "station's defect rate per class, raised while the rate is still rising."
    )


# ---- root ------------------------------------------------------------------------------------


class StationConfig(_Model):
    """The whole station.yaml."""

    station: StationSection = Field(
        default_factory=StationSection, description="Identity and data folder."
    )
    source: SourceConfig = Field(
        description="Where frames come from: a USB camera, a network stream, a video file, an "
        "image folder or the simulated line."
    )
    trigger: TriggerConfig = Field(
        default_factory=lambda: PerFrameTrigger(type="per_frame"),
        description="When a part is inspected.",
    )
    model: ModelSection = Field(
        default_factory=ModelSection,
        description="The model bundle, its runtime, and the region of the frame it judges.",
    )
    serial: SerialConfig = Field(
        default_factory=lambda: GeneratedSerial(type="generated"),
        description="Where each part's serial comes from.",
    )
    storage: StorageSection = Field(
        default_factory=StorageSection, description="Database, journal and images."
    )
    outputs: list[OutputConfig] = Field(
        default_factory=lambda: [LogOutputConfig(type="log")],
        description="Reject outputs called with each part's verdict.",
    )
    lineio: list[LineConfig] = Field(
        default_factory=list,
        description="Line protocols (MQTT, OPC UA): PLC/MES triggers in, results out.",
    )
    queues: QueuesSection = Field(default_factory=QueuesSection, description="Buffer sizes.")
    verdicts: VerdictsSection = Field(
        default_factory=VerdictsSection,
        description="Deadline and the verdicts of parts the model could not judge.",
    )
    trace: TraceSection = Field(
        default_factory=TraceSection, description="Upstream process events and root cause."
    )
    api: ApiSection = Field(
        default_factory=ApiSection,
        description="The HTTP API: address, port, open reads, body limit (keys: `inspector keys`).",
    )

    def db_url(self) -> str:
        """The configured database URL, or SQLite inside data_dir."""
        from inspector.storage.engine import sqlite_url

        return self.storage.url or sqlite_url(self.station.data_dir)

    def central_db_url(self, environ: Mapping[str, str] | None = None) -> str | None:
        """storage.central_url with its `${NAME}` environment variables filled in (None: off)."""
        if self.storage.central_url is None:
            return None
        return expand_env("storage.central_url", self.storage.central_url, environ)


# ---- loading ---------------------------------------------------------------------------------


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(key: str, value: str, environ: Mapping[str, str] | None = None) -> str:
    """`value` with each `${NAME}` replaced by the environment variable NAME (secrets stay out of
    station.yaml); a variable that is not set is a ConfigError naming `key` and the variable."""
    env = os.environ if environ is None else environ
    missing = [name for name in _ENV_REF.findall(value) if name not in env]
    if missing:
        raise ConfigError(f"{key}: environment variable {', '.join(missing)} is not set")
    return _ENV_REF.sub(lambda m: env[m.group(1)], value)


def format_errors(exc: ValidationError, data: Any) -> list[str]:
    """Each pydantic error as `path.to.key: message`, with union tags left out of the path."""
    return [
        f"{_loc_path(err['loc'], data)}: {err['msg'].removeprefix('Value error, ')}"
        for err in exc.errors()
    ]


def _loc_path(loc: tuple[Any, ...], data: Any) -> str:
    parts: list[str] = []
    node = data
    for key in loc:
        # pydantic puts the discriminator value into the loc of a tagged union member.
        if isinstance(node, Mapping) and key not in node and key == node.get("type"):
            continue
        parts.append(str(key))
        if isinstance(node, Mapping):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            node = None
    return ".".join(parts) or "(root)"


def parse_config(data: Any, source: str = "config") -> StationConfig:
    """Validate a mapping (parsed YAML) into a StationConfig, or raise ConfigValidationError."""
    if not isinstance(data, Mapping):
        kind = "empty" if data is None else type(data).__name__
        raise ConfigValidationError(source, [f"(root): expected a mapping, got {kind}"])
    try:
        return StationConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigValidationError(source, format_errors(exc, data)) from exc


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> StationConfig:
    """Read station.yaml, validate it, and apply the deployment environment overrides."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    return apply_env(parse_config(data, str(path)), environ)


def apply_env(cfg: StationConfig, environ: Mapping[str, str] | None = None) -> StationConfig:
    """INSPECTOR_DATA_DIR, INSPECTOR_DB_URL and INSPECTOR_API_PORT override the file: they are
    deployment facts."""
    env = os.environ if environ is None else environ
    if env.get(ENV_API_PORT):
        try:
            api = cfg.api.model_copy(update={"port": int(env[ENV_API_PORT])})
            cfg = cfg.model_copy(update={"api": ApiSection.model_validate(api.model_dump())})
        except (ValueError, ValidationError) as exc:
            raise ConfigError(f"{ENV_API_PORT}={env[ENV_API_PORT]!r} is not a TCP port") from exc
    if env.get(ENV_DATA_DIR):
        station = cfg.station.model_copy(update={"data_dir": Path(env[ENV_DATA_DIR])})
        cfg = cfg.model_copy(update={"station": station})
    if env.get(ENV_DB_URL):
        storage = cfg.storage.model_copy(update={"url": env[ENV_DB_URL]})
        cfg = cfg.model_copy(update={"storage": storage})
    return cfg


def summary(cfg: StationConfig) -> str:
    """One line describing a valid config (what check-config prints after OK)."""
    outputs = ",".join(o.type for o in cfg.outputs) or "none"
    return (
        f"station={cfg.station.id} source={cfg.source.source_id()} "
        f"trigger={cfg.trigger.type} model={cfg.model.bundle} ({cfg.model.backend}) "
        f"serial={cfg.serial.type} db={cfg.db_url()} outputs={outputs}"
        + (f" mqtt={cfg.trace.mqtt.host}:{cfg.trace.mqtt.port}" if cfg.trace.mqtt.enabled else "")
        + (f" central={_hide_password(cfg.storage.central_url)}" if cfg.storage.central_url else "")
    )


def _hide_password(url: str) -> str:
    """A URL for display: the password part (or its `${NAME}`) as ***."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)
