"""``kpi validate``, ``kpi schema`` and ``kpi plugins``: what a spec and the installed plugins say."""
from __future__ import annotations

import json
import sys

import click

from ..errors import SpecError
from ..formatting import render_table
from .common import EXIT_SPEC, handle_errors, spec_option


def register(cli: click.Group) -> None:
    for command in (validate, schema, plugins):
        cli.add_command(command)


@click.command()
@spec_option
@click.option("--connect", is_flag=True, help="also check that models' tables and columns exist in the warehouse")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def validate(spec, connect, fmt):
    """Check every spec file; report all problems at once, each with file:line:column and a hint."""
    from ..spec.loader import (  # lazy: kpi --help stays fast
        load_project_unchecked,
        validate_project,
    )

    project, issues = load_project_unchecked(spec)
    issues += validate_project(project)
    if connect and not issues:
        from ..run.connectcheck import (
            check_connections,  # lazy: imports the engine and sqlglot
        )

        issues += check_connections(project)
    if fmt == "json":
        click.echo(json.dumps({"ok": not issues, "problems": [i.to_dict() for i in issues]}, ensure_ascii=False,
                              indent=2))
        sys.exit(EXIT_SPEC if issues else 0)
    if issues:
        raise SpecError(issues)
    click.secho(f"ok: {len(project.files)} file(s), {len(project.kpis)} KPIs, {len(project.models)} models, "
                f"{len(project.process)} process nodes", fg="green")


@click.command()
def schema():
    """Print the JSON Schema of a spec file (for editors: yaml-language-server $schema)."""
    # lazy: kpi --help stays fast
    from ..plugins import default_registry
    from ..spec.schema import spec_schema

    click.echo(json.dumps(spec_schema(default_registry()), indent=2, ensure_ascii=False))


@click.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def plugins(fmt):
    """List installed plugins, their versions and the source and sink types and spec sections they add."""
    from ..plugins import (
        default_registry,  # lazy: loading every plugin is not for kpi --help
    )

    reg = default_registry()
    infos = reg.plugins()
    if fmt == "json":
        click.echo(json.dumps({
            "plugins": [info.__dict__ for info in infos],
            "source_types": sorted(reg.source_types), "sink_types": sorted(reg.sink_types),
            "spec_sections": [s.name for s in reg.spec_sections],
            "problems": [{"plugin": p.plugin, "distribution": p.distribution, "message": p.message}
                         for p in reg.problems]}, indent=2))
        return
    rows = [[i.name, i.distribution or "-", i.version or "-", ", ".join(i.source_types) or "-",
             ", ".join(i.sink_types) or "-", ", ".join(i.sections) or "-"] for i in infos]
    click.echo(render_table(["plugin", "distribution", "version", "sources", "sinks", "spec sections"], rows))
    for p in reg.problems:
        click.secho(f"warning: {p}", fg="yellow", err=True)
