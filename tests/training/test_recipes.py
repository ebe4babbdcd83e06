"""Recipes as data: the shipped recipe files, a user's recipe file, --set, and a short --help."""

from __future__ import annotations

import argparse

import pytest

from inspector.errors import ConfigError
from training.config import RECIPES, TrainingConfig, build_config, recipe_defaults
from training.options import get_args_parser
from training.recipe import resolve_settings

MAX_OPTIONS = 20


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [a.option_strings[-1] for a in parser._actions if a.option_strings]


def test_train_help_fits_one_screen_of_options():
    # `inspector train --help` prints `python -m training.train --help`: count what a user sees.
    text = get_args_parser().format_help()
    shown = {line.split()[0].rstrip(",") for line in text.splitlines() if line.strip().startswith("-")}
    assert len(shown) <= MAX_OPTIONS, sorted(shown)
    assert len(_options(get_args_parser())) <= MAX_OPTIONS
    assert "--budget-min" in shown and "--recipe" in shown


def test_every_option_has_help_text():
    assert all(a.help for a in get_args_parser()._actions)


def test_the_failed_experiments_are_gone():
    fields = set(TrainingConfig.model_fields)
    for gone in ("ema_decay", "focal_gamma", "pseudo_masks", "crop_good_share", "ensemble"):
        assert gone not in fields
    with pytest.raises(SystemExit):
        get_args_parser().parse_args(["d", "--out", "o", "--ema-decay", "0.9"])


@pytest.mark.parametrize("name", RECIPES)
def test_each_shipped_recipe_file_is_a_valid_config(name):
    config = build_config({**recipe_defaults(name), "recipe": name})
    assert config.recipe == name


def _resolved(tmp_path, *argv) -> argparse.Namespace:
    args = get_args_parser().parse_args([str(tmp_path), "--out", str(tmp_path / "o"), *argv])
    resolve_settings(args, None)
    return args


def test_options_win_over_set_which_wins_over_a_recipe_file(tmp_path):
    recipe = tmp_path / "mine.toml"
    recipe.write_text('recipe = "mask-supervised"\ninput_size = 448\nepochs = 30\nlr = 0.001\n')
    args = _resolved(tmp_path, "--recipe", str(recipe), "--set", "lr=0.002", "--set", "epochs=20")
    assert (args.recipe, args.input_size, args.lr, args.epochs) == ("mask-supervised", 448, 0.002, 20)
    assert args.crop_epochs == recipe_defaults("mask-supervised")["crop_epochs"]
    assert args.fixed_schedule == []  # a file's or --set's epochs are the most the budget allows
    args = _resolved(tmp_path, "--recipe", str(recipe), "--epochs", "7")
    assert args.epochs == 7 and args.fixed_schedule == ["epochs"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--set", "lr"], "KEY=VALUE"),
    (["--set", "nonsense=1"], "unknown setting 'nonsense'"),
    (["--set", "input_size=big"], "input_size"),
    (["--set", "tta=identity,sideways"], "unknown view"),
    (["--set", "synth_mix=rainbow"], "unknown mix"),
    (["--set", "good_share=1.5"], "good_share in"),
    (["--recipe", "no-such-recipe"], "neither a recipe"),
])
def test_bad_settings_are_refused_before_any_image_is_read(tmp_path, argv, message):
    from training.options import check_args

    with pytest.raises(ConfigError, match=message):
        check_args(get_args_parser().parse_args([str(tmp_path), "--out", "o", *argv]))


def test_a_recipe_file_with_an_unknown_or_broken_setting_is_refused(tmp_path):
    from training.options import check_args

    bad = tmp_path / "bad.toml"
    bad.write_text("ema_decay = 0.9\n")
    with pytest.raises(ConfigError, match=r"unknown setting.*ema_decay"):
        check_args(get_args_parser().parse_args([str(tmp_path), "--out", "o", "--recipe", str(bad)]))
    bad.write_text("lr = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        check_args(get_args_parser().parse_args([str(tmp_path), "--out", "o", "--recipe", str(bad)]))


def test_labels_only_trains_and_fuses_a_gate_by_default():
    defaults = recipe_defaults("labels-only")
    assert defaults["train_gate"] and defaults["fuse_gate"]
    assert not recipe_defaults("mask-supervised")["train_gate"]


def test_an_out_folder_holding_other_files_is_refused_before_training(tmp_path):
    from training.train import main

    out = tmp_path / "notes"
    out.mkdir()
    (out / "keep.txt").write_text("not a bundle")
    with pytest.raises(ConfigError, match="holds files but no model bundle"):
        main(get_args_parser().parse_args([str(tmp_path), "--out", str(out)]))
    assert (out / "keep.txt").read_text() == "not a bundle"

