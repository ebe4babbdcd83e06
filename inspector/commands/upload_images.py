"""`inspector upload-images`: send the station's archived part images to the central service."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from inspector.commands.startup import exit_on_setup_errors, stop_on_signals
from inspector.config import load_config


def upload_images(
    config: Annotated[Path, typer.Option("--config", "-c", help="station.yaml")],
    central_api: Annotated[str, typer.Option(
        help="the central service's address, e.g. http://central.plant:8000 (the key: "
        "$INSPECTOR_CENTRAL_API_KEY, an operator key of the central service)")],
    once: Annotated[bool, typer.Option("--once", help="upload what is there, then exit")] = False,
    timeout: Annotated[float, typer.Option(min=0.5, max=300, help="seconds per upload")] = 10.0,
) -> None:
    """Upload the station's part images (and heatmaps) to the central service, which keeps them
    in its own image folder, so they outlive the station's retention and need no station to be
    reachable. Oldest first after a cursor in the station database: a restart resumes; a part
    the central database does not hold yet (forwarding behind) is retried later."""
    from inspector.image_upload import CENTRAL_KEY_ENV, ImageUploader, UploadSettings
    from inspector.pipeline.station import data_paths
    from inspector.storage.delivery import DeliveryStore

    with exit_on_setup_errors():
        cfg = load_config(config)
        settings = UploadSettings(
            station_id=cfg.station.id, central_api=central_api,
            images_dir=data_paths(cfg.station.data_dir)[1],
            api_key=os.environ.get(CENTRAL_KEY_ENV) or None, timeout_s=timeout)
        store = DeliveryStore.open(cfg.db_url())
    uploader = ImageUploader(store, settings)
    restore = stop_on_signals(uploader.request_stop)
    try:
        uploader.run(until_empty=once)
    finally:
        restore()
        store.close()
    s = uploader.stats
    waiting = f"; waiting for part {s.waiting_for} to reach the central database" \
        if s.waiting_for else ""
    typer.echo(f"uploaded {s.files} files over {s.rows} rows ({s.missing} gone or refused, "
               f"{s.errors} failed tries){waiting}")

