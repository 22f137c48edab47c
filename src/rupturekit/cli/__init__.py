"""The `rupturekit` command line, one module per command (`rupturekit.cli.ingest`, `.tag`, ...) on
the options, console and one-line failures of `rupturekit.cli._util`. Each command parses its
options, calls the library and prints.

Bad input ends in one line on stderr (file, line or record, what to do) and exit status 2;
never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

from rich.markup import escape

from rupturekit.cli._util import EXIT_BAD_INPUT, app, err, fail
from rupturekit.errors import InputError

__all__ = ["app", "main"]

# Each module registers its command on `app` when imported, in the order `rupturekit --help` lists them.
COMMANDS = ("ingest", "info", "features", "train", "tag", "weak_label", "agree", "codebook", "codes", "export",
            "episodes", "sessions", "alliance", "meta")
for _name in COMMANDS:
    importlib.import_module(f"rupturekit.cli.{_name}")


def main() -> None:
    """Entry point: run the app, turning unexpected errors into one line unless debugging."""
    from rupturekit.safe_output import Terminated, install_signal_handlers, remove_temporaries

    install_signal_handlers()  # SIGTERM / SIGHUP unwind like Ctrl-C, removing temporary files
    try:
        app()
    except InputError as error:  # a stage raised past its command: still one line
        fail(str(error))  # escaped: a path such as a[/b].txt is not markup
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        remove_temporaries()
        err.print("interrupted")
        sys.exit(130)
    except Terminated as stop:
        remove_temporaries()
        err.print(f"stopped by {stop}; nothing half-written was left")
        sys.exit(128 + stop.signum)
    except Exception as exc:  # noqa: BLE001 - the promise is one line, never a traceback
        if os.environ.get("RUPTUREKIT_DEBUG"):
            raise
        err.print(f"[bold red]internal error:[/] {escape(f'{type(exc).__name__}: {exc}')} "
                  "(rerun with RUPTUREKIT_DEBUG=1 for the traceback, and report it)", markup=True)
        sys.exit(1)
