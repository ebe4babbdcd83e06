"""`inspector` command line: builds objects from arguments and calls them."""

from __future__ import annotations

import logging
import os

import typer

from inspector.commands import alerts as alert_cmds
from inspector.commands import bench as bench_cmds
from inspector.commands import demo as demo_cmds
from inspector.commands import forward as forward_cmds
from inspector.commands import keys as keys_cmds
from inspector.commands import model as model_cmds
from inspector.commands import quality as quality_cmds
from inspector.commands import retention as retention_cmds
from inspector.commands import review as review_cmds
from inspector.commands import serve as serve_cmds
from inspector.commands import station as station_cmds
from inspector.commands import trace as trace_cmds
from inspector.commands import upload_images as upload_cmds

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Inspector: line-side visual quality inspection station.")


@app.callback()
def _setup(verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging")) -> None:
    level = logging.DEBUG if verbose else getattr(logging, os.environ.get("INSPECTOR_LOG", "INFO"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# train, crossval and quantize hand every argument (--help too) to the training package's own parser.
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
app.command("train", context_settings=PASS_THROUGH)(model_cmds.train)
app.command("crossval", context_settings=PASS_THROUGH)(model_cmds.crossval)
app.command("quantize", context_settings=PASS_THROUGH)(model_cmds.quantize)
app.command("eval")(model_cmds.evaluate)
app.command("classify")(model_cmds.classify)
app.command("tune-thresholds")(model_cmds.tune_thresholds)
app.command("attach-gate")(model_cmds.attach_gate)
app.command("fit-quality")(quality_cmds.fit_quality)
app.command("run")(station_cmds.run)
app.command("check-config")(station_cmds.check_config)
app.command("demo")(demo_cmds.demo)
app.command("bench")(bench_cmds.bench)
app.command("import-events")(trace_cmds.import_events)
app.command("genealogy")(trace_cmds.genealogy)
app.command("root-cause")(trace_cmds.root_cause)
app.command("alerts-scan")(alert_cmds.alerts_scan)
app.command("serve")(serve_cmds.serve)
app.command("forward")(forward_cmds.forward)
app.command("upload-images")(upload_cmds.upload_images)
app.command("export-reviewed")(review_cmds.export_reviewed)
app.command("retention")(retention_cmds.retention)
app.add_typer(keys_cmds.app, name="keys")


if __name__ == "__main__":
    app()
