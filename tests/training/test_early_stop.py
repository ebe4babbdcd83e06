"""The early-stopping guard (--stop-not-before), the auto precision and the budget that follows it."""

from __future__ import annotations

import argparse

import pytest

torch = pytest.importorskip("torch")

from inspector.errors import ConfigError  # noqa: E402
from tests.conftest import TINY_ARGS  # noqa: E402
from tests.synthetic import make_dataset  # noqa: E402
from training import fit as fit_module  # noqa: E402
from training.loop import fast_bf16, resolve_precision  # noqa: E402
from training.options import check_args, get_args_parser  # noqa: E402
from training.train import main, may_stop_early  # noqa: E402


def _args(stop_not_before: float, epochs: int = 58, patience: int = 20) -> argparse.Namespace:
    return argparse.Namespace(stop_not_before=stop_not_before, epochs=epochs, patience=patience)


def test_the_guard_holds_early_stopping_off_until_its_share_of_the_epochs_has_run():
    # The bf16 pilot's case: patience ran out at full epoch 24 of 58.
    assert may_stop_early(24, 20, _args(0.0))
    assert not may_stop_early(24, 20, _args(0.75))
    # ceil(0.75 * 58) = 44 epochs always run: the 44th (0-based 43) may stop, the 43rd may not.
    assert not may_stop_early(42, 40, _args(0.75))
    assert may_stop_early(43, 40, _args(0.75))
    # Past the guard it is plain patience again.
    assert not may_stop_early(50, 19, _args(0.75))
    assert not may_stop_early(57, 0, _args(1.0)) and may_stop_early(57, 20, _args(1.0))


@pytest.fixture
def val_never_improves(monkeypatch):
    """Every phase-2 epoch scores worse on val than the one before, so patience runs out at once."""
    scores = iter(range(1000, 0, -1))

    def falling(run, probs):
        return {"val_macro_f1": 0.5, "val_auroc": 0.5, "val_frr": 0.5, "select": float(next(scores))}
    monkeypatch.setattr(fit_module, "val_figures", falling)


@pytest.mark.parametrize(("guard", "full_epochs"), [("0", 2), ("0.5", 3), ("1", 6)])
def test_training_runs_the_guarded_epochs_before_stopping(tmp_path, val_never_improves, guard, full_epochs):
    data = make_dataset(tmp_path / "d", per_class=6, masks=False)
    args = get_args_parser().parse_args([str(data), "--out", str(tmp_path / "b"), *TINY_ARGS, "--epochs", "6",
                                         "--set", "patience=1", "--set", f"stop_not_before={guard}"])
    report = main(args)
    assert [h["phase"] for h in report["history"]].count("full") == full_epochs
    assert report["args"]["stop_not_before"] == float(guard)


def test_auto_precision_is_bf16_only_on_cpus_with_amx(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True, "avx512_bf16": True})
    assert fast_bf16("cpu") and resolve_precision("auto", "cpu") == "bf16"
    assert resolve_precision("auto", "cuda") == "fp32"  # unmeasured on GPUs: float32
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": False, "avx512_bf16": True})
    assert not fast_bf16("cpu") and resolve_precision("auto", "cpu") == "fp32"
    # An explicit choice is kept whatever the CPU.
    assert resolve_precision("bf16", "cpu") == "bf16" and resolve_precision("fp32", "cpu") == "fp32"
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp16", "cpu")


def test_the_report_records_the_precision_that_ran(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": False})
    data = make_dataset(tmp_path / "d", per_class=6, masks=False)
    args = get_args_parser().parse_args([str(data), "--out", str(tmp_path / "b"), *TINY_ARGS,
                                         "--precision", "auto"])
    assert main(args)["args"]["precision"] == "fp32"


@pytest.mark.parametrize("bad", [("--set", "stop_not_before=1.5"), ("--set", "stop_not_before=-0.1"),
                                 ("--set", "patience=0")])
def test_bad_guard_values_are_refused(tmp_path, bad):
    args = get_args_parser().parse_args([str(tmp_path), "--out", str(tmp_path / "b"), *bad])
    with pytest.raises(ConfigError, match=bad[1].split("=")[0]):
        check_args(args)


def test_recipe_files_hold_each_recipe_s_schedule_and_precision():
    from training.config import recipe_defaults

    got = {r: tuple(recipe_defaults(r)[k] for k in ("precision", "crop_epochs", "epochs"))
           for r in ("labels-only", "mask-supervised", "good-only")}
    # labels-only: the schedule of its shipped bundle (bf16 where faster); the budget shortens it
    assert got == {"labels-only": ("auto", 165, 87), "mask-supervised": ("fp32", 110, 58),
                   "good-only": ("fp32", 80, 40)}
