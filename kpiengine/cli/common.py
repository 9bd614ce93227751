"""What every ``kpi`` command shares: the --spec option, request options, dates, and error handling.

Errors a user can cause are printed as located messages with hints and a
non-zero exit code, never as tracebacks (set KPIENGINE_DEBUG=1 to see one).
"""
from __future__ import annotations

import functools
import os
import sys
from datetime import date

import click

from ..errors import KpiEngineError, SourceError, SpecError
from ..sources import connection_scope

EXIT_SPEC = 2
EXIT_SOURCE = 3
EXIT_INTERNAL = 4

DEFAULT_SPEC = "kpi_specs"


def spec_option(f):
    return click.option("--spec", "-s", "spec", envvar="KPI_SPECS", default=DEFAULT_SPEC, show_default=True,
                        type=click.Path(), help="spec folder (or one YAML file); env KPI_SPECS")(f)


def handle_errors(f):
    """Turn the errors a user can cause into messages and exit codes."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            with connection_scope():  # one connection per database for the whole command
                return f(*args, **kwargs)
        except SpecError as exc:
            errors = sum(i.is_error for i in exc.issues)
            warnings = len(exc.issues) - errors
            click.secho(f"{errors} problem(s) found" + (f", {warnings} warning(s)" if warnings else "") + ":",
                        fg="red", err=True)
            for issue in exc.issues:
                click.echo(str(issue), err=True)
            sys.exit(EXIT_SPEC)
        except SourceError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(EXIT_SOURCE)
        except KpiEngineError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(EXIT_SPEC)
        except click.exceptions.Exit:
            raise
        except (click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:  # pragma: no cover - a bug: still no raw traceback unless asked
            if os.environ.get("KPIENGINE_DEBUG"):
                raise
            click.secho(f"internal error: {exc!r} (set KPIENGINE_DEBUG=1 for a traceback; please report it)",
                        fg="red", err=True)
            sys.exit(EXIT_INTERNAL)
    return wrapper


PERIOD_SYNTAX = "YYYY-MM-DD, an ISO week 2026-W43, a month 2026-10, a quarter 2026-Q4 or a year 2026"
def parse_period(value: str) -> date:
    """A day, or the first day of an ISO week, month, quarter or year; ValueError says what is accepted."""
    from ..spec.lifecycle import parse_period_key  # lazy: kpi --help must not import the spec package

    return parse_period_key(value)[0]


def parse_date(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_period(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a day or a period: write {PERIOD_SYNTAX}") from None


def load(spec: str):
    """The project in ``spec``, from the spec cache when nothing it depends on changed."""
    from ..spec.cache import (
        load_project_cached,  # lazy: kpi --help must not import the loader's dependencies
    )

    project = load_project_cached(spec)
    for warning in project.warnings:
        click.secho(str(warning), fg="yellow", err=True)
    return project


def check_range(start: date | None, end: date | None) -> None:
    """A reversed --from/--to is a mistake, not an empty result."""
    if start is not None and end is not None and start >= end:
        raise click.UsageError(f"--from {start} is not before --to {end} (--to is exclusive): swap them, or "
                               "give a later --to")


def request_options(command):
    @functools.wraps(command)
    def checked(*args, **kwargs):
        check_range(kwargs.get("start"), kwargs.get("end"))
        return command(*args, **kwargs)

    f = checked
    f = click.option("--kpi", "-k", "kpis", multiple=True, help="KPI name (repeatable); default all")(f)
    f = click.option("--grain", "-g", default="week", show_default=True,
                     help="period: day, week, month, quarter, year, or all (one row per dimension values over the range)")(f)
    f = click.option("--by", "-b", "by", multiple=True, help="dimension to break down by (repeatable)")(f)
    f = click.option("--from", "start", callback=parse_date,
                     help="first day, inclusive: YYYY-MM-DD, or the start of 2026-W43, 2026-10, 2026-Q4")(f)
    f = click.option("--to", "end", callback=parse_date,
                     help="end, exclusive: YYYY-MM-DD, or the start of 2026-W43, 2026-10, 2026-Q4")(f)
    return f
