"""`inspector` command line: builds objects from arguments and calls them."""

from __future__ import annotations

import logging
import os

import typer

from inspector.commands import model as model_cmds

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Inspector: line-side visual quality inspection station.")


@app.callback()
def _setup(verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging")) -> None:
    level = logging.DEBUG if verbose else getattr(logging, os.environ.get("INSPECTOR_LOG", "INFO"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                       "help_option_names": []})(model_cmds.train)
app.command("eval")(model_cmds.evaluate)
app.command("classify")(model_cmds.classify)


if __name__ == "__main__":
    app()
