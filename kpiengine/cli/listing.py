"""``kpi list``: what a spec defines, the first thing a new user asks (``kpi list kpis|models|dimensions|...``).

``kpi list`` is a click group so each kind of thing is a subcommand of its
own, and features add theirs (``kpi list values DIM`` lists a dimension's
values); without a subcommand it prints a summary of every kind. Each
subcommand prints a table or, with ``--format json``, a list of objects.
"""
from __future__ import annotations

import json

import click

from ..formatting import display, render_table
from .common import handle_errors, load, spec_option


def register(cli: click.Group) -> None:
    cli.add_command(list_group)


def _output(f):
    f = click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)(f)
    return spec_option(f)


def _emit(fmt: str, items: list[dict], columns: list[tuple[str, str]], empty: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    if not items:
        click.echo(empty)
        return
    cells = [[_cell(item[key]) for key, _ in columns] for item in items]
    click.echo(render_table([title for _, title in columns], cells))


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return str(value)


@click.group("list", invoke_without_command=True)
@_output
@click.pass_context
def list_group(ctx, spec, fmt):
    """List what the spec defines: KPIs, models, dimensions, funnels, rules (a subcommand for each)."""
    if ctx.invoked_subcommand is not None:
        return
    handle_errors(_summary)(spec, fmt)


def _summary(spec, fmt):
    project = load(spec)
    kinds = {"kpis": kpi_items(project), "models": model_items(project), "dimensions": dimension_items(project),
             "funnels": funnel_items(project), "rules": rule_items(project)}
    if fmt == "json":
        click.echo(json.dumps(kinds, ensure_ascii=False, indent=2))
        return
    for kind, items in kinds.items():
        names = ", ".join(i["name"] for i in items[:12]) + (", ..." if len(items) > 12 else "")
        click.echo(f"{kind:<11} {len(items):>3}  {names or '-'}")
    click.echo("\n`kpi list kpis` (models, dimensions, funnels, rules) shows each in full; --format json for scripts")


def kpi_items(project) -> list[dict]:
    # lazy: kpi --help stays fast
    from ..spec.dimensions import available_dimensions

    items = []
    for kpi in project.kpis.values():
        if getattr(kpi, "_from_funnel", False):
            kind, built = "funnel", kpi.formula or f"{kpi.aggregate} of {kpi.model}"
        elif kpi.is_formula:
            kind, built = "formula", kpi.formula
        else:
            kind = "aggregate"
            built = f"{kpi.aggregate}({kpi.column or '*'}) of {kpi.model}" + (f" where {kpi.filter}" if kpi.filter else "")
        items.append({"name": kpi.name, "label": kpi.label, "kind": kind, "definition": built, "unit": kpi.unit,
                      "dimensions": sorted(available_dimensions(project, kpi.name)),
                      "process": " > ".join(project.kpi_path(kpi.name)) or None, "status": kpi.status})
    return items


def model_items(project) -> list[dict]:
    items = []
    for m in project.models.values():
        kind, what = ("table", m.table) if m.table else ("file", m.file) if m.file else ("sql", "SELECT ...")
        items.append({"name": m.name, "source": m.source, "kind": kind, "reads": what, "time": m.time,
                      "entity": m.entity, "dimensions": list(m.dimensions)})
    return items


def dimension_items(project) -> list[dict]:
    # lazy: kpi --help stays fast
    from ..spec.dimensions import available_dimensions
    from ..spec.entities import reachable_dimensions  # lazy: kpi --help stays fast

    # A model's own dimensions, and those it reaches through entities (rep.team: the team of the deal's rep).
    reach = {m.name: reachable_dimensions(project, m.name) for m in project.models.values()}
    names = sorted({d for dims in reach.values() for d in dims})
    by_kpi = {k: available_dimensions(project, k) for k in project.kpis}
    return [{"name": d, "models": [m for m, dims in reach.items() if d in dims],
             "kpis": [k for k, dims in by_kpi.items() if d in dims]} for d in names]


def funnel_items(project) -> list[dict]:
    # lazy: kpi --help must not import the funnel SQL
    from ..analysis.funnels import parse_funnels

    funnels, _ = parse_funnels(project)
    return [{"name": f.name, "label": f.label, "steps": [s.name for s in f.steps], "breakdown": f.breakdown,
             "ordered": f.ordered} for f in funnels.values()]


def rule_items(project) -> list[dict]:
    # lazy: kpi --help must not import alerting
    from ..alerting.rules import parse_rules

    rules, _ = parse_rules(project.section("rules"), project, check_keys=False)
    return [{"name": r.name, "kpi": r.kpi, "type": r.type, "grain": r.grain, "by": r.by,
             "severities": [severity for severity, _ in r.conditions]} for r in rules.values()]


def _subcommand(name: str, items_of, columns: list[tuple[str, str]], help_text: str):
    @click.command(name, help=help_text)
    @_output
    @handle_errors
    def command(spec, fmt):
        _emit(fmt, items_of(load(spec)), columns, f"no {name} in this spec")

    list_group.add_command(command)
    return command


_subcommand("kpis", kpi_items, [("name", "KPI"), ("label", "label"), ("kind", "kind"), ("definition", "built from"),
                                ("unit", "unit"), ("dimensions", "dimensions (--by)"), ("process", "process")],
            "KPIs: how each is built, its unit, the dimensions it can be broken down by, its process path.")
_subcommand("models", model_items, [("name", "model"), ("source", "source"), ("kind", "kind"), ("reads", "reads"),
                                    ("time", "time"), ("entity", "entity"), ("dimensions", "dimensions")],
            "Models: the table, file or SELECT each reads, its time column, entity and dimensions.")
_subcommand("dimensions", dimension_items, [("name", "dimension"), ("models", "models"), ("kpis", "KPIs")],
            "Dimensions (the values of --by): the models that have each and the KPIs it breaks down.")
_subcommand("funnels", funnel_items, [("name", "funnel"), ("label", "label"), ("steps", "steps"),
                                      ("breakdown", "breakdown")],
            "Funnels and their steps.")
_subcommand("rules", rule_items, [("name", "rule"), ("kpi", "KPI"), ("type", "type"), ("grain", "grain"),
                                  ("by", "by"), ("severities", "severities")],
            "Alert rules: the KPI each watches, its type, grain, breakdown and severities.")


@list_group.command("values")
@click.argument("dimension")
@click.option("--model", "-m", default=None, help="count the rows of this model (default: the first model with a "
                                                   "time column that has or reaches the dimension)")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="only the N most frequent values")
@_output
@handle_errors
def values_cmd(dimension, model, limit, spec, fmt):
    """The values of a dimension (own or through entities, e.g. rep.team) with their row counts."""
    from ..run.engine import (
        Engine,  # lazy: kpi --help must not import the engine and sqlglot
    )
    from ..run.values import dimension_values  # lazy: as above

    found = dimension_values(Engine(load(spec)), dimension, model, limit=limit)
    if fmt == "json":
        click.echo(json.dumps({"dimension": found.dimension, "model": found.model,
                               "values": [{"value": v, "rows": n} for v, n in found.values]},
                              ensure_ascii=False, indent=2, default=str))
        return
    click.echo(f"{found.dimension}: rows of model {found.model}")
    # display(): NULL as ∅ like every other table, control characters in the data shown as escapes.
    click.echo(render_table([found.dimension, "rows"], [[display(v), f"{n:,}"] for v, n in found.values],
                            [False, True]))
