"""TrainingConfig: every training setting, typed and checked, read from a recipe file (TOML)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from inspector.errors import ConfigError
from inspector.model.feature_bank import POOL
from inspector.model.preprocess import DEFAULT_VIEWS, VIEWS
from inspector.model.thresholds import GATE_FRR
from training.batches import GOOD_ONLY, LABELS_ONLY, MASK_SUPERVISED
from training.canvas import parse_canvas
from training.feature_bank import BANK_SIZE
from training.synthetic_defects import MIXES

RECIPES = (MASK_SUPERVISED, LABELS_ONLY, GOOD_ONLY)
RECIPE_DIR = Path(__file__).parent / "recipes"


class TrainingConfig(BaseModel):
    """One recipe's settings. The shipped recipes (training/recipes/*.toml) set the values that
    differ between recipes; a user's recipe file (or --set) overrides any field by name."""

    model_config = ConfigDict(extra="forbid")

    recipe: Literal["mask-supervised", "labels-only", "good-only"]
    # The schedule: two phases under one one-cycle learning rate. The epochs are the most a run
    # trains; --budget-min shortens them to fit the time it is given.
    crop_epochs: int = 110
    crop_steps: int = 40
    crop_batch: int = 32
    crop_size: int = 128
    crop_margin: int = 0        # px a crop may reach past the image edge (zero-filled)
    epochs: int = 58
    batch: int = 16
    steps_per_epoch: int = 0    # 0: one pass over the train split
    lr: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 20          # full-phase epochs without val gain before stopping
    stop_not_before: float = 0.75  # share of the full-phase epochs that always run
    precision: Literal["fp32", "bf16", "auto"] = "fp32"
    loader_workers: int = 0
    # The network and its input.
    input_size: int = 320
    # auto: a rectangle of about input_size^2 pixels shaped like the training images when their
    # median height/width is past 1.25 (long narrow parts keep their resolution), else the square;
    # square; or HEIGHTxWIDTH.
    canvas: str = "auto"
    widths: str = "32,32,48,64"
    head_width: int = 64
    tta: str = ",".join(DEFAULT_VIEWS)
    # Losses and draws.
    pos_weight: float = 10.0
    label_smoothing: float = 0.0
    good_share: float = 0.0     # share of draws that are good images (0: every class by sqrt(count))
    synth_crop_p: float = 0.5
    synth_full_p: float = 0.3
    synth_mix: str = "edges"
    aux_weight: float = 0.5
    mil_weight: float = 0.5
    locate_at: float = 0.5
    # The REVIEW rule.
    target_recall: float = 0.99
    max_false_reject: float = 0.01
    frr_confidence: float = 0.0
    # The good-only gate: trained beside a classifier (train_gate), fused into its score or an OR rule.
    train_gate: bool = False
    fuse_gate: bool = False
    gate_frr: float = GATE_FRR
    bank_size: int = BANK_SIZE
    bank_pool: int = POOL
    no_image_bank: bool = False
    gate_p_weight: float = 0.0

    @field_validator("tta")
    @classmethod
    def _views(cls, value: str) -> str:
        views = [v.strip() for v in value.split(",") if v.strip()]
        unknown = [v for v in views if v not in VIEWS]
        if unknown:
            raise ValueError(f"unknown view(s) {', '.join(unknown)}; known: {', '.join(VIEWS)}")
        if not views or len(set(views)) != len(views):
            raise ValueError(f"name each view once, got {value!r}")
        return ",".join(views)

    @field_validator("canvas")
    @classmethod
    def _canvas(cls, value: str) -> str:
        parse_canvas(value)  # a ValueError names what it takes
        return value

    @field_validator("widths")
    @classmethod
    def _widths(cls, value: str) -> str:
        try:
            widths = [int(w) for w in value.split(",")]
        except ValueError:
            raise ValueError(f"comma-separated channel counts, got {value!r}") from None
        if len(widths) != 4 or min(widths) < 1:
            raise ValueError(f"four positive channel counts, got {value!r}")
        return value

    @field_validator("synth_mix")
    @classmethod
    def _mix(cls, value: str) -> str:
        if value not in MIXES:
            raise ValueError(f"unknown mix {value!r}; known: {', '.join(sorted(MIXES))}")
        return value

    @model_validator(mode="after")
    def _ranges(self) -> TrainingConfig:
        """Refuse values that would fail, or quietly do nothing, only after minutes of training."""
        checks = [
            (self.crop_epochs >= 0 and self.epochs >= 1, "crop_epochs >= 0 and epochs >= 1"),
            (min(self.crop_steps, self.crop_batch, self.batch, self.input_size) >= 1,
             "crop_steps, crop_batch, batch and input_size >= 1"),
            (self.patience >= 1, "patience >= 1"),
            (0 <= self.stop_not_before <= 1, "stop_not_before in [0, 1]"),
            (self.loader_workers >= 0, "loader_workers >= 0"),
            (0 <= self.label_smoothing < 1, "label_smoothing in [0, 1)"),
            (0 <= self.good_share < 1, "good_share in [0, 1)"),
            (0 <= self.max_false_reject < 1, "max_false_reject in [0, 1)"),
            (0 <= self.frr_confidence < 1, "frr_confidence in [0, 1)"),
            (0 < self.target_recall <= 1, "target_recall in (0, 1]"),
            (self.crop_margin == 0 or 0 < self.crop_margin < self.crop_size // 2,
             f"crop_margin 0 or under half the crop ({self.crop_size // 2})"),
            (self.bank_pool >= 1, "bank_pool >= 1"),
            (not (self.fuse_gate and self.recipe == GOOD_ONLY), "no fuse_gate for a good-only gate"),
        ]
        failed = [rule for ok, rule in checks if not ok]
        if failed:
            raise ValueError("; ".join(failed))
        return self


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"recipe file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"recipe file {path}: not valid TOML ({exc})") from exc


def recipe_defaults(name: str) -> dict:
    """The shipped recipe file's values (training/recipes/NAME.toml)."""
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)} or a .toml file")
    return _read_toml(RECIPE_DIR / f"{name}.toml")


def read_recipe_file(path: Path) -> dict:
    """A user's recipe file: any TrainingConfig fields; `recipe` names the shipped one it starts from."""
    values = _read_toml(Path(path))
    unknown = sorted(set(values) - set(TrainingConfig.model_fields))
    if unknown:
        raise ConfigError(f"recipe file {path}: unknown setting(s) {', '.join(unknown)}; "
                          f"known: {', '.join(TrainingConfig.model_fields)}")
    return values


def parse_sets(items: list[str] | None) -> dict:
    """--set KEY=VALUE pairs as a dict of strings (TrainingConfig converts and checks them)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"--set takes KEY=VALUE, got {item!r}")
        if key not in TrainingConfig.model_fields or key == "recipe":
            raise ConfigError(f"--set: unknown setting {key!r}; known: "
                              f"{', '.join(k for k in TrainingConfig.model_fields if k != 'recipe')}")
        out[key] = value.strip()
    return out


def with_defaults(name: str, given: dict) -> dict:
    """The shipped recipe's values under the ones given. A recipe's crop margin is for its own
    crop size: with a smaller crop set, the default margin shrinks with it (a quarter crop)."""
    values = {**recipe_defaults(name), **given, "recipe": name}
    if "crop_margin" not in given and "crop_size" in given:
        size = int(values["crop_size"])
        if values.get("crop_margin", 0) >= size // 2:
            values["crop_margin"] = size // 4
    return values


def build_config(values: dict) -> TrainingConfig:
    """A checked config, or a ConfigError naming every bad setting."""
    try:
        return TrainingConfig(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'recipe'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"training settings: {problems}") from None
