"""`cnnviz` / `python -m cnnviz`: no subcommand opens the app; a subcommand (or --version,
--help) runs the CLI."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        # Before the first Qt import: importing QtGui already fails without libGL.
        from cnnviz.app.startup import problem

        message = problem(os.environ)
        if message:
            print(message, file=sys.stderr)
            return 1
        from cnnviz.app.main import run

        return run()
    from cnnviz.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
