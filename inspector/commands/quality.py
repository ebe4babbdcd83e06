"""`inspector fit-quality`: learn a bundle's image-quality limits from a dataset's train images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from inspector.errors import InspectorError


def fit_quality(
    bundle: Annotated[Path, typer.Argument(help="model bundle folder (card.json is rewritten)")],
    dataset: Annotated[Path, typer.Argument(help="dataset folder (images/<class>/...)")],
    split_csv: Annotated[Path | None, typer.Option(help="image,label,split CSV")] = None,
) -> None:
    """Learn the image-quality limits (blank, exposure, focus, size, flat lines) from the `train`
    images into the card, and print how many images of each split they would refuse (one JSON
    line). Training does this itself; run it on a line's own images, or on an older bundle."""
    import dataclasses

    from inspector.datasets import scan_dataset
    from inspector.model.card import ModelCard
    from inspector.model.preprocess import read_image
    from inspector.model.quality import QualityGate, fit_profile_from_files

    try:
        card = ModelCard.load(bundle)
        index = scan_dataset(dataset, split_csv)
        train = index.split("train") or index.samples
        profile = fit_profile_from_files(s.path for s in train)
        dataclasses.replace(card, quality=profile.to_dict()).save(bundle)
        gate = QualityGate(profile)
        refused = {}
        for split in ("train", "val", "test"):
            names = [str(s.path) for s in index.split(split) if gate.check(read_image(s.path))]
            refused[split] = {"n": len(index.split(split)), "refused": names}
    except InspectorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps({"bundle": str(bundle), "quality": profile.to_dict(), "splits": refused}))
