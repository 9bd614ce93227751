"""``kpi validate``, ``kpi schema`` and ``kpi plugins``: what a spec and the installed plugins say."""
from __future__ import annotations

import json
import sys

import click

from ..errors import SpecError
from ..formatting import render_table
from ..spec.suggest import did_you_mean
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
    if connect and not any(i.is_error for i in issues):
        from ..analysis.funnels import entry_keys  # lazy: as below
        from ..run.connectcheck import (
            check_connections,  # lazy: imports the engine and sqlglot
        )

        issues += check_connections(project, relied_on=entry_keys(project))
    failed = any(i.is_error for i in issues)
    if fmt == "json":
        click.echo(json.dumps({"ok": not failed, "problems": [i.to_dict() for i in issues]}, ensure_ascii=False,
                              indent=2))
        sys.exit(EXIT_SPEC if failed else 0)
    if failed:
        raise SpecError(issues)
    for warning in issues:
        click.secho(str(warning), fg="yellow", err=True)
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
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table",
              show_default=True)
@click.option("--options", "options_of", metavar="TYPE",
              help="the options of a source or sink type (`all` for every type), from its options schema")
@handle_errors
def plugins(fmt, options_of):
    """List installed plugins, their versions and the source and sink types and spec sections they add."""
    from ..plugins import (
        default_registry,  # lazy: loading every plugin is not for kpi --help
    )

    reg = default_registry()
    if options_of:
        _print_options(reg, options_of, fmt)
        return
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


def _print_options(reg, type_name: str, fmt: str) -> None:
    from . import options_reference as ref  # lazy: kpi --help stays fast

    if type_name == "all" and fmt == "markdown":
        click.echo(ref.reference_markdown(reg))
        return
    types = [t for t in ref.plugin_types(reg) if type_name in ("all", t[1])]
    if not types:
        known = sorted(set(reg.source_types) | set(reg.sink_types))
        close = did_you_mean(type_name, known)
        raise click.BadParameter(f"no source or sink type {type_name!r}: {close or 'types: ' + ', '.join(known)}",
                                 param_hint="--options")
    if fmt == "json":
        click.echo(json.dumps([{"kind": kind, "type": name, "description": getattr(cls, "description", ""),
                                "options": ref.option_rows(cls)} for kind, name, cls in types],
                              ensure_ascii=False, indent=2))
        return
    for kind, name, cls in types:
        if fmt == "markdown":
            click.echo(ref.markdown(kind, name, cls))
            continue
        click.echo(f"{kind} {name}: {getattr(cls, 'description', '')}")
        rows = ref.option_rows(cls)
        click.echo(render_table(["option", "type", "default", "description"],
                                [[r["option"], r["type"], r["default"], r["description"]] for r in rows])
                   if rows else "  no options")
        click.echo("")
