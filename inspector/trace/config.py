"""Pydantic config models of the trace package (MQTT event subscriber, root-cause defaults)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MqttEventsConfig(BaseModel):
    """Subscribe to upstream process events published by the machines over MQTT."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="Start the MQTT event subscriber with the station.")
    host: str = Field("127.0.0.1", description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker TCP port.")
    topic: str = Field(
        "inspector/events/#", min_length=1,
        description="Topic filter (MQTT wildcards + and # allowed); payload is one JSON event "
        "object or an array of them.",
    )
    qos: Literal[0, 1, 2] = Field(1, description="Subscription QoS; 1 = at least once.")
    client_id: str = Field(
        "", description="MQTT client id; empty = broker-assigned (then no persistent session)."
    )
    username: str | None = Field(None, description="Broker user name, if it requires one.")
    password_env: str = Field(
        "INSPECTOR_MQTT_PASSWORD", description="Environment variable holding the password."
    )
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive interval.")
    queue_size: int = Field(
        20_000, ge=100, description="Validated events waiting for the database; when full, new "
        "events wait put_timeout_s and are then dropped and counted (policy: block_then_drop).",
    )
    put_timeout_s: float = Field(1.0, ge=0.0, le=30.0, description="See queue_size.")
    batch_size: int = Field(1_000, ge=1, le=50_000, description="Events per database insert.")
    flush_interval_s: float = Field(
        0.5, gt=0.0, le=60.0, description="Longest wait before a partial batch is written."
    )


class ChangePointConfig(BaseModel):
    """Change points in each machine's defect rate over its part sequence (root_cause.changes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Look for steps in each machine's defect rate and line "
                          "them up with changes of its settings (tool, lot, recipe).")
    min_segment_parts: int = Field(
        50, ge=5, description="Parts at least on either side of a change point.")
    min_defects: int = Field(
        5, ge=1, description="A machine (or a segment of it) with fewer defects is not split.")
    max_per_machine: int = Field(
        5, ge=1, le=100, description="Significant change points searched per machine at most.")
    align_parts: int = Field(
        200, ge=0, description="A recorded setting change at most this many parts from the "
        "estimated change point can explain it.")
    align_loglik: float = Field(
        6.0, gt=0.0, description="A recorded change explains a change point when splitting the "
        "defects there loses at most this much of twice the log-likelihood of the best split.")
    max_parts: int = Field(
        200_000, ge=0, description="Windows with more parts skip the search (it reads each "
        "part's events; the rest of root cause counts in the database).")
    max_change_share: float = Field(
        0.1, gt=0.0, le=1.0, description="A parameter whose value changes on more than this "
        "share of consecutive parts varies per part (no setting) and explains no change point.")


class RootCauseConfig(BaseModel):
    """Thresholds of the root-cause analysis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(
        0.05, gt=0.0, lt=0.5, description="Family-wise error rate (Holm, over every machine, "
        "parameter and pair of conditions tested) at which a finding is reported significant.",
    )
    min_parts: int = Field(30, ge=2, description="Fewer parts than this: insufficient data.")
    min_defects: int = Field(5, ge=1, description="Fewer defects than this: insufficient data.")
    min_group_parts: int = Field(
        10, ge=1, description="A machine or category seen on fewer parts is not tested."
    )
    bins: int = Field(5, ge=2, le=20, description="Quantile bins per numeric parameter.")
    max_categories: int = Field(
        12, ge=2, le=100, description="Categorical parameters: values listed per finding (the "
        "highest defect rates first, the rest pooled as 'other'). Every value seen on "
        "min_group_parts parts is tested, however many there are.",
    )
    combinations: bool = Field(
        True, description="Also test every pair of two conditions (machine, parameter range, "
        "category value) against the rest and against each condition alone.",
    )
    max_combinations: int = Field(
        10, ge=0, le=1000, description="Non-significant combinations listed (by effect); the "
        "significant ones are always listed.",
    )
    count_review_as_defect: bool = Field(
        False, description="Count REVIEW verdicts as defects (default: only NG)."
    )
    changes: ChangePointConfig = Field(
        default_factory=ChangePointConfig, description="Change points over each machine's part "
        "sequence (their own family of tests at alpha/2, Bonferroni over the machines searched).")


class AlertsConfig(BaseModel):
    """Predictive alerts: a Bernoulli CUSUM on the station's defect rate, each class and all NG."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="Watch the defect rate of each stored batch in the "
                          "station process; alerts go to the alerts table and the line outputs "
                          "(MQTT alarm topic).")
    shift: float = Field(1.5, gt=1.0, le=10.0, description="The rise each monitor is tuned to "
                         "find first: the rate times this (it alerts well before the rate doubles).")
    horizon_parts: int = Field(
        10_000, ge=100, description="Over this many parts of a line at its baseline, each "
        "monitor raises a false alarm with at most false_alarm chance.")
    false_alarm: float = Field(0.05, gt=0.0, lt=0.5, description="See horizon_parts.")
    baseline_parts: int = Field(
        10_000, ge=100, description="The baseline rate: the station's last parts when it starts "
        "(or its first parts, learnt before monitoring, when its history is shorter).")
    classes: list[str] | None = Field(
        None, description="Classes to watch beside all NG parts; None: every class the "
        "baseline or the run shows.")
