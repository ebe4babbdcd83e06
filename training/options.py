"""`inspector train`'s command-line options (the ones a user needs; the rest live in recipe files)."""

from __future__ import annotations

import argparse
from pathlib import Path

from inspector.errors import ConfigError
from training.batches import GOOD_ONLY
from training.config import RECIPES, build_config, parse_sets, read_recipe_file, with_defaults
from training.loop import AUTO_PRECISION, PRECISIONS
from training.prefetch import fork_available

DESCRIPTION = ("Train a model bundle from an image-folder dataset. The recipe follows the layout "
               "(masks/ present: mask-supervised; else labels-only; --good-only: a good-only gate) "
               "and the schedule is fitted to --budget-min on this computer.")
EPILOG = ("Every other setting (input size, batch sizes, learning rate, losses, thresholds' rule, "
          "test-time views, ...) is a field of a recipe file: see training/recipes/*.toml, copy one, "
          "change what you need and pass it with --recipe FILE, or change one field with "
          "--set NAME=VALUE.")
DEFAULT_BUDGET_MIN = 30.0


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inspector train", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("dataset", type=Path,
                   help="dataset folder: <class>/<image>, or images/<class>/<image> (+ masks/<class>/"
                        "<image>.png for pixel masks); an optional split.csv (image,label,split)")
    p.add_argument("--out", type=Path, required=True,
                   help="bundle folder to write; it appears whole when training ends (an older bundle "
                        "there is replaced only then)")
    p.add_argument("--split-csv", type=Path, default=None,
                   help="image,label,split CSV (default: DATASET/split.csv if present, else a seeded "
                        "stratified split)")
    p.add_argument("--recipe", default=None, metavar="NAME|FILE",
                   help=f"{', '.join(RECIPES)}, or a .toml recipe file (default: chosen from the "
                        "dataset layout)")
    p.add_argument("--set", dest="sets", action="append", default=None, metavar="NAME=VALUE",
                   help="change one recipe setting, e.g. --set input_size=448 (repeatable)")
    p.add_argument("--budget-min", type=float, default=DEFAULT_BUDGET_MIN,
                   help="minutes the whole command may take: the step time is measured on the first "
                        "batches and the epochs are fitted to it (0: the recipe's full schedule)")
    p.add_argument("--crop-epochs", type=int, default=None,
                   help="phase 1 (crops) epochs, fixed: the budget no longer shortens them")
    p.add_argument("--epochs", type=int, default=None,
                   help="phase 2 (full images) epochs, fixed: the budget no longer shortens them")
    p.add_argument("--good-only", action="store_true",
                   help="train a good-only anomaly gate from the good images alone (recipe good-only)")
    p.add_argument("--gate", type=Path, default=None, metavar="BUNDLE",
                   help="use this good-only gate bundle instead of training one (labels-only fuses it "
                        "into the defect score; mask-supervised adds it as an OR rule)")
    p.add_argument("--no-gate", action="store_true",
                   help="no gate: labels-only then skips training one (faster, fewer anomalies caught)")
    p.add_argument("--good-class", action="append", default=None,
                   help="class meaning no defect (default: good/ok/free/normal..., repeatable)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, data and CPU: same model)")
    p.add_argument("--precision", choices=(*PRECISIONS, AUTO_PRECISION), default=None,
                   help="what the forward passes compute in; auto: bf16 where it measures faster on "
                        "this CPU, else fp32 (the bundle is float32 either way; default: the recipe's)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for training")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--name", default=None, help="model name (default: the --out folder's name)")
    p.add_argument("--no-progress", action="store_true", help="log lines instead of progress bars")
    p.add_argument("--refit-from", type=Path, default=None, metavar="CROSSVAL_DIR",
                   help="after inspector crossval: train on every train+val image, with the threshold "
                        "and epoch the folds chose (no gate)")
    return p


def base_recipe(args: argparse.Namespace, layout_recipe: str | None) -> str:
    """The shipped recipe a run starts from: --good-only, a --recipe name, a recipe file's
    `recipe`, else the dataset's layout (`layout_recipe`)."""
    if args.good_only:
        return GOOD_ONLY
    if args.recipe in RECIPES:
        return args.recipe
    if args.recipe and args.recipe != "auto":
        named = read_recipe_file(Path(args.recipe)).get("recipe")
        if named:
            return named
    return layout_recipe or "labels-only"


def overrides(args: argparse.Namespace) -> dict:
    """What the command sets beyond the shipped recipe, lowest first: recipe file, --set, options."""
    values: dict = {}
    if args.recipe and args.recipe not in RECIPES and args.recipe != "auto":
        values.update(read_recipe_file(Path(args.recipe)))
    values.update(parse_sets(args.sets))
    for name in ("crop_epochs", "epochs", "precision"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    values.pop("recipe", None)
    return values


def check_args(args: argparse.Namespace) -> None:
    """Refuse values that would fail, or quietly do nothing, only after minutes of training."""
    if args.recipe is not None and args.recipe not in (*RECIPES, "auto") \
            and not Path(args.recipe).is_file():
        raise ConfigError(f"--recipe: {args.recipe!r} is neither a recipe ({', '.join(RECIPES)}) nor a "
                          "recipe file")
    name = base_recipe(args, None)
    # Checked now with the recipe the layout is likeliest to pick; the dataset decides it later.
    build_config(with_defaults(name, overrides(args)))
    if args.budget_min < 0:
        raise ConfigError(f"--budget-min must be 0 (no budget) or more, got {args.budget_min}")
    if args.threads < 1:
        raise ConfigError(f"--threads must be 1 or more, got {args.threads}")
    workers = int(parse_sets(args.sets).get("loader_workers", 0) or 0)
    if workers > 0 and not fork_available():
        raise ConfigError("loader_workers needs processes forked from the trainer (Linux); "
                          "leave it at 0 on this platform")
    if args.gate is not None and args.no_gate:
        raise ConfigError("--gate and --no-gate contradict each other: choose one")
    if args.gate is not None and args.good_only:
        raise ConfigError("--gate joins a gate to a classifier, not to a good-only gate")
    if args.refit_from is not None and (args.good_only or args.gate is not None):
        # The gate's fusion and threshold are calibrated on val, which a refit trains on.
        raise ConfigError("--refit-from trains a classifier on train+val: it takes no --good-only "
                          "or --gate (attach a gate to the refitted bundle afterwards)")
