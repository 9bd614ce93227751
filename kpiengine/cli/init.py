"""``kpi init``: a spec folder scaffolded from a warehouse, the first command of a new user.

It connects with the options given (``-o key=value``; ``${VAR}`` values are
read from the environment and written to the spec as they are), reads the
catalog, lets the user pick tables, and writes ``project.yml`` (with a
commented ``sources`` block listing the source's other options and secrets
as ``${ENV}`` references), ``models.yml`` and ``kpis.yml`` (a first KPI per
model) and a ``.gitignore`` for the history folder and the HTML report.
Every file it writes validates; ``kpi validate --connect`` and ``kpi run``
work on it at once.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path

import click

from .common import handle_errors

GITIGNORE = "# written by kpi init: run history and generated reports stay out of version control\n" \
            ".kpiengine/\nreport.html\n"


def register(cli: click.Group) -> None:
    cli.add_command(init)


@click.command()
@click.argument("folder", default="kpi_specs", type=click.Path(file_okay=False))
@click.option("--source", "source_type", required=True,
              help="source type: duckdb, sqlite, postgres, mysql, ... (`kpi plugins` lists them)")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
              help="a source option (repeatable), e.g. -o path=shop.duckdb or -o 'password=${PGPASSWORD}'; "
                   "`kpi plugins --options TYPE` lists them")
@click.option("--name", "source_name", default="warehouse", show_default=True, help="name of the source in the spec")
@click.option("--table", "-t", "tables", multiple=True, help="table to model (repeatable); default: ask, or all")
@click.option("--force", is_flag=True, help="write into a folder that already has spec files")
@handle_errors
def init(folder, source_type, options, source_name, tables, force):
    """Scaffold a spec folder from a warehouse: models, a first KPI per model, sources with ${ENV} secrets."""
    # lazy: kpi --help must not import the engine, sqlglot or the plugins
    from ..errors import KpiEngineError, SpecIssue
    from ..plugins import default_registry
    from ..run.scaffold import propose_model, read_catalog
    from ..spec.suggest import did_you_mean
    from ..spec.yamlsrc import expand_env

    target = Path(folder)
    if target.exists() and any(target.glob("*.y*ml")) and not force:
        raise KpiEngineError(f"{folder} already has spec files: choose another folder, or --force to overwrite "
                             "the files kpi init writes (project.yml, models.yml, kpis.yml)")
    registry = default_registry()
    cls = registry.source_type(source_type)
    written = _parse_options(options, cls)
    issues: list[SpecIssue] = []
    connect_with = expand_env(dict(written), issues)
    if issues:
        raise KpiEngineError(str(issues[0]).replace("error: ", ""))
    source = cls(source_name, connect_with)
    with source:
        catalog = read_catalog(source)
        if not catalog:
            raise KpiEngineError(f"source '{source_name}' shows no tables to this user")
        chosen = _choose(catalog, tables, did_you_mean)
        proposals, skipped = [], []
        for table in chosen:
            proposal = propose_model(source, table)
            (proposals.append(proposal) if proposal else skipped.append(table.qualified))
    if not proposals:
        raise KpiEngineError("none of the tables has a date or timestamp column, which a model needs: "
                             + ", ".join(skipped) + "\n    hint: a model counts rows at an event time: a date or "
                             "timestamp column, or a text column in one date format (2026-03-02, 02/03/2026, ...) "
                             "in every sampled row")
    secrets = set(getattr(cls, "secret_options", ()))
    target.mkdir(parents=True, exist_ok=True)
    (target / "project.yml").write_text(_project_yaml(target, source_name, source_type, written, cls, secrets),
                                        encoding="utf-8")
    # The spec's expressions are written in project.sql_dialect (default duckdb), whatever the source:
    # a column that needs quotes is quoted "like this", never `like this`.
    (target / "models.yml").write_text(_models_yaml(proposals, "duckdb"), encoding="utf-8")
    (target / "kpis.yml").write_text(_kpis_yaml(proposals, "duckdb"), encoding="utf-8")
    gitignore = target / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(GITIGNORE, encoding="utf-8")
    click.echo(f"wrote {folder}/: {len(proposals)} models, {len(proposals) + sum(bool(p.measure) for p in proposals)} KPIs "
               f"(project.yml, models.yml, kpis.yml, .gitignore)")
    for name in skipped:
        click.echo(f"  skipped {name}: no date or timestamp column (typed, or text in one date format) for the model's time")
    for key in written:
        if key in secrets and "${" not in str(written[key]):
            click.echo(f"  the {key} is not written to the spec: export {_env_name(source_name, key)}=... "
                       "before running kpi")
    click.echo("next:\n"
               f"  kpi validate --connect -s {folder}   # checks every column against the warehouse\n"
               f"  kpi list -s {folder}                 # what the spec defines\n"
               f"  kpi run -s {folder}                  # the numbers, per week")


def _parse_options(options: tuple[str, ...], cls) -> dict:
    schema = getattr(cls, "options_schema", {}).get("properties", {})
    out = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: write KEY=VALUE", param_hint="--option")
        kind = schema.get(key.strip(), {}).get("type")
        value = value.strip()
        if "${" not in value:
            try:
                value = {"integer": int, "number": float,
                         "boolean": lambda v: v.lower() in ("1", "true", "yes", "on")}.get(kind, str)(value)
            except ValueError:
                raise click.BadParameter(f"{item!r}: {key} is a {kind}", param_hint="--option") from None
        out[key.strip()] = value
    return out


def _choose(catalog, tables: tuple[str, ...], did_you_mean) -> list:
    from ..errors import KpiEngineError  # lazy: kpi --help stays fast

    by_name = {t.qualified: t for t in catalog} | {t.name: t for t in catalog}
    if tables:
        unknown = [t for t in tables if t not in by_name]
        if unknown:
            raise KpiEngineError(f"unknown table '{unknown[0]}': "
                                 + (did_you_mean(unknown[0], by_name) or f"tables: {', '.join(sorted(by_name))}"))
        return [by_name[t] for t in dict.fromkeys(tables)]
    if not sys.stdin.isatty():
        return catalog
    for i, t in enumerate(catalog, 1):
        click.echo(f"  {i:>3}  {t.qualified} ({len(t.columns)} columns)")
    answer = click.prompt("tables to model (numbers or names, separated by spaces; empty for all)", default="",
                          show_default=False)
    picked = []
    for word in answer.replace(",", " ").split():
        if word.isdigit() and 1 <= int(word) <= len(catalog):
            picked.append(catalog[int(word) - 1])
        elif word in by_name:
            picked.append(by_name[word])
        else:
            raise KpiEngineError(f"no table {word!r} in the list")
    return picked or catalog


def _q(value) -> str:
    """A YAML scalar: plain when that is unambiguous, JSON-quoted (valid YAML) otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if re.fullmatch(r"[A-Za-z_./][\w./-]*", text) and text.lower() not in ("true", "false", "null", "yes", "no",
                                                                            "on", "off", "~"):
        return text
    return json.dumps(text, ensure_ascii=False)


def _env_name(source: str, key: str) -> str:
    return f"KPI_{source}_{key}".upper()


def _project_yaml(target: Path, source_name, source_type, written: dict, cls, secrets: set) -> str:
    props = getattr(cls, "options_schema", {}).get("properties", {})
    lines = [f"# Scaffolded by `kpi init` from a {source_type} source on {dt.date.today().isoformat()}.",
             "# Next: kpi validate --connect, kpi list, kpi run (docs/spec.md explains every field).",
             "project:", f"  name: {_q(target.resolve().name)}",
             "  timezone: UTC  # the IANA time zone periods are cut in, e.g. Europe/Berlin",
             f"  default_source: {source_name}", "",
             "# Where the data lives. Secrets come from the environment, never from this file:",
             "# write ${VAR}, or ${VAR:-default} for a value with a fallback.",
             f"# `kpi plugins --options {source_type}` describes every option.",
             "sources:", f"  {source_name}:", f"    type: {source_type}"]
    for key, value in written.items():
        if key in secrets and "${" not in str(value):
            lines.append(f"    {key}: ${{{_env_name(source_name, key)}}}  # export {_env_name(source_name, key)}=...")
        else:
            lines.append(f"    {key}: {_q(value)}")
    for key, schema in props.items():
        if key in written:
            continue
        example = f"${{{_env_name(source_name, key)}}}" if key in secrets else _q(schema.get("default", "..."))
        note = schema.get("description", "")
        lines.append(f"    # {key}: {example}" + (f"  # {note}" if note else ""))
    return "\n".join(lines) + "\n"


def _models_yaml(proposals, dialect: str) -> str:
    from ..run.scaffold import quote_if_needed  # lazy: kpi --help stays fast

    lines = ["# One model per table: the event time each row is counted at, the entity key, and the",
             "# columns KPIs can be broken down by (`--by`). Add `filter:`s to KPIs, not here.", "models:"]
    for p in proposals:
        lines += [f"  {p.name}:", f"    table: {_q(p.table)}", f"    time: {_q(quote_if_needed(p.time, dialect))}"]
        if p.time_format:
            lines.append(f"    time_format: {_q(p.time_format)}  # the time column is text in this format")
        if p.entity:
            lines.append(f"    entity: {_q(quote_if_needed(p.entity, dialect))}")
        if p.dimensions:
            lines.append("    dimensions:")
            lines += [f"      {_dim_name(d)}: {_q(quote_if_needed(d, dialect))}" for d in p.dimensions]
        if p.skipped_dimensions:
            lines.append(f"    # not proposed as dimensions (too many distinct values): {', '.join(p.skipped_dimensions)}")
    return "\n".join(lines) + "\n"


def _dim_name(column: str) -> str:
    name = re.sub(r"\W+", "_", column).strip("_").lower() or "dimension"
    return name if re.match(r"[a-z_]", name) else f"d_{name}"


def _kpis_yaml(proposals, dialect: str) -> str:
    from ..run.scaffold import quote_if_needed  # lazy: kpi --help stays fast

    lines = ["# A first KPI per model. Formula KPIs combine them: `formula: orders_total / orders_count`.", "kpis:"]
    for p in proposals:
        lines += [f"  {p.name}_count:", f"    label: {_q(p.name.replace('_', ' ').capitalize() + ' (rows)')}",
                  f"    model: {p.name}", "    aggregate: count", "    unit: count"]
        if p.measure:
            lines += [f"  {p.name}_{_dim_name(p.measure)}_total:",
                      f"    label: {_q(p.name.replace('_', ' ').capitalize() + ' ' + p.measure + ' (sum)')}",
                      f"    model: {p.name}", "    aggregate: sum",
                      f"    column: {_q(quote_if_needed(p.measure, dialect))}", "    unit: number"]
    return "\n".join(lines) + "\n"
