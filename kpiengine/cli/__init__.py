"""The ``kpi`` command line, on top of every other layer.

Each module here adds a group of commands (``register(main)``). A command
imports what it runs when it runs, never at start-up, so ``kpi --help`` and
tab completion stay instant; those imports carry a ``# lazy:`` comment.
"""
from __future__ import annotations

import click

from .. import __version__
from . import alerting, dashboard, demo, diff, funnels, init, listing, review, run_commands, spec_commands


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="kpi")
def main():
    """kpiengine: define, compute, watch and explain key indicators from YAML specs."""


for _commands in (init, spec_commands, listing, run_commands, funnels, demo, alerting, dashboard, review, diff):
    _commands.register(main)


if __name__ == "__main__":  # pragma: no cover
    main()
