"""What long-running commands share at start: config errors as exit 1, signals as a polite stop."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

import typer

from inspector.config import ConfigValidationError
from inspector.errors import InspectorError


@contextlib.contextmanager
def exit_on_setup_errors() -> Iterator[None]:
    """A config's issues (one a line) or an Inspector error on stderr, then exit code 1."""
    try:
        yield
    except ConfigValidationError as exc:
        for issue in exc.issues:
            typer.echo(issue, err=True)
        raise typer.Exit(1) from exc
    except InspectorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def stop_on_signals(request_stop: Callable[[], None]) -> Callable[[], None]:
    """SIGINT/SIGTERM call `request_stop` (the loop ends after the step in hand); returns a
    function restoring the previous handlers. Off the main thread signals cannot be set: no-op."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, lambda *_: request_stop())
                for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
