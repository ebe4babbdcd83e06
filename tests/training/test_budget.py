"""The time budget: fitting a schedule to measured step times (pure logic, no timing), the ETA,
and what a budgeted training prints and records."""

from __future__ import annotations

import json
import logging

import pytest

from training.budget import MIN_EPOCHS, Eta, Job, StepCost, describe, fit_schedule

COST = StepCost(crop_s=0.5, full_s=1.0, image_s=0.01)


def _job(name="classifier", crop=110, full=58, fixed=False, **kw) -> Job:
    return Job(name, crop, full, crop_steps=40, full_steps=39, cost=COST, val_images=200,
               finish_images=1000, fixed=fixed, **kw)


def test_a_generous_budget_keeps_the_recipe_schedule():
    job = _job()
    plan = fit_schedule([job], budget_s=10 * job.seconds())
    assert (plan.jobs[0].crop_epochs, plan.jobs[0].epochs) == (110, 58)  # never lengthened
    assert plan.fits and plan.seconds == pytest.approx(job.seconds())


def test_a_short_budget_shortens_both_phases_alike_and_fits():
    job = _job()
    budget = 0.5 * job.seconds()
    plan = fit_schedule([job], budget, spent_s=30)
    got = plan.jobs[0]
    assert got.crop_epochs < 110 and got.epochs < 58
    assert got.crop_epochs / 110 == pytest.approx(got.epochs / 58, abs=0.03)  # the balance holds
    assert plan.fits and plan.seconds <= budget
    assert plan.seconds > 0.9 * budget  # and it uses the time it was given


def test_time_already_spent_counts_against_the_budget():
    job = _job()
    budget = 0.5 * job.seconds()
    fresh, late = fit_schedule([job], budget), fit_schedule([job], budget, spent_s=0.2 * budget)
    assert late.jobs[0].epochs < fresh.jobs[0].epochs


def test_a_budget_too_short_for_anything_keeps_the_minimum_and_says_it_overruns():
    plan = fit_schedule([_job()], budget_s=10)
    assert (plan.jobs[0].crop_epochs, plan.jobs[0].epochs) == (MIN_EPOCHS, MIN_EPOCHS)
    assert not plan.fits and "over the 1 min budget" in describe(plan)


def test_fixed_epochs_are_kept_and_their_time_is_taken_from_the_others():
    gate, clf = _job("gate", 80, 40), _job("classifier", fixed=True)
    budget = clf.seconds() + 0.5 * gate.seconds()
    plan = fit_schedule([gate, clf], budget)
    assert (plan.job("classifier").crop_epochs, plan.job("classifier").epochs) == (110, 58)
    assert plan.job("gate").epochs < 40 and plan.fits


def test_two_networks_share_the_budget_by_one_factor():
    gate, clf = _job("gate", 80, 40), _job("classifier")
    plan = fit_schedule([gate, clf], 0.4 * (gate.seconds() + clf.seconds()))
    assert plan.job("gate").epochs / 40 == pytest.approx(plan.job("classifier").epochs / 58, abs=0.05)


def test_no_budget_keeps_every_schedule():
    plan = fit_schedule([_job()], budget_s=0)
    assert plan.jobs[0].epochs == 58 and plan.fits


def test_the_plan_reads_as_minutes_and_epochs():
    job = _job()
    plan = fit_schedule([job], budget_s=27 * 60)
    text = describe(plan)
    assert text.startswith("about 27 min on this CPU: classifier: ")
    assert f"{plan.jobs[0].crop_epochs} crop epochs, {plan.jobs[0].epochs} full epochs" in text


def test_a_shortened_plan_says_how_long_the_whole_schedule_takes():
    job = _job()
    whole = job.seconds()
    short = describe(fit_schedule([job], budget_s=0.5 * whole))
    assert f"whole schedule would take about {round(whole / 60)} min (--budget-min 0)" in short
    assert "whole schedule" not in describe(fit_schedule([job], budget_s=2 * whole))
    assert "whole schedule" not in describe(fit_schedule([job], budget_s=0))


def test_the_eta_follows_the_pace_measured_so_far():
    now = [0.0]
    eta = Eta(planned_s=100.0, clock=lambda: now[0])
    assert eta.left_s() == 100.0
    now[0] = 40.0
    eta.advance(20.0)  # a fifth of the plan took 40 s: twice as slow as planned
    assert eta.left_s() == pytest.approx(160.0)
    assert eta.text() == "ETA 2.7 min"


@pytest.fixture
def tiny_args():
    from tests.conftest import TINY_ARGS

    return TINY_ARGS


def test_a_budgeted_training_prints_its_plan_and_records_the_schedule(tmp_path, caplog, tiny_args):
    pytest.importorskip("torch")
    from tests.synthetic import make_dataset
    from training.train import get_args_parser, main

    data = make_dataset(tmp_path / "d", per_class=6, masks=False)
    argv = [str(data), "--out", str(tmp_path / "b"), *[a for a in tiny_args],
            "--no-gate", "--budget-min", "5", "--precision", "fp32"]
    # TINY_ARGS fix the epochs: drop them, so the budget decides
    for flag in ("--crop-epochs", "--epochs"):
        i = argv.index(flag)
        del argv[i:i + 2]
    argv += ["--set", "crop_epochs=4", "--set", "epochs=3"]  # a recipe file's values: still fitted
    with caplog.at_level(logging.INFO):
        report = main(get_args_parser().parse_args(argv))
    assert any("plan: about" in r.getMessage() and "crop epochs" in r.getMessage() for r in caplog.records)
    card = json.loads((tmp_path / "b" / "card.json").read_text())
    schedule = card["metrics"]["schedule"]
    assert schedule["budget_min"] == 5 and schedule["epochs"] == report["args"]["epochs"]
    assert schedule["step_seconds"]["full"] > 0
    assert [h["phase"] for h in report["history"]].count("full") <= schedule["epochs"]


@pytest.mark.parametrize(("bf16_full_s", "hardware", "chosen"), [
    (0.5, True, "bf16"),    # twice as fast (AMX): bf16
    (0.95, True, "fp32"),   # not faster by a tenth: float32 stays
    (2.0, True, "fp32"),    # emulated, slower: float32
    (0.5, False, "fp32"),   # no bf16 instructions: not even measured
])
def test_auto_precision_keeps_bf16_only_where_it_measures_faster(monkeypatch, bf16_full_s, hardware, chosen):
    pytest.importorskip("torch")
    import torch

    from training import measure

    measured = []

    def fake_measure(run, precision, steps=6):
        measured.append(precision)
        full = 1.0 if precision == "fp32" else bf16_full_s
        return StepCost(crop_s=full / 2, full_s=full, image_s=0.01)

    monkeypatch.setattr(measure, "measure", fake_measure)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": hardware})

    class CpuRun:
        device = torch.device("cpu")

    precision, cost = measure.choose_precision(CpuRun())
    assert precision == chosen and cost.full_s == (bf16_full_s if chosen == "bf16" else 1.0)
    assert measured == (["fp32", "bf16"] if hardware else ["fp32"])
