"""The join construct compiled for nine dialects side by side (in the spirit of sqlglot's own tests).

One request reaches a dimension one hop away (``rep.team``), one two hops away
through a key of another name (``lead.rep.region``: leads.owner_id ->
reps.rep_id), a composite key (``store.city``: country and store_no) and a
query filter over joined dimensions. For each dialect the expected FROM /
LEFT JOIN clause is written out, the SQL must parse back in its dialect, and
the joined columns must be qualified by their join's alias.
"""
from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from kpiengine.engine import Engine
from kpiengine.loader import load_project

SPEC = """
project: {name: j, default_source: w}
sources: {w: {type: duckdb, path: ":memory:"}}
models:
  deals:
    table: sales.deals
    time: created_at
    entities:
      deal: {type: primary}
      rep: {type: foreign}
      lead: {type: foreign}
      store: {type: foreign, key: [country, store_no]}
    dimensions: {region: region}
  reps:
    table: sales.reps
    entities: {rep: {type: primary}}
    dimensions: {team: team, region: lower(region)}
  leads:
    table: sales.leads
    entities: {lead: {type: primary}, rep: {type: foreign, key: owner_id}}
    dimensions: {origin: origin}
  stores:
    table: sales.stores
    entities: {store: {type: primary, key: [country_code, number]}}
    dimensions: {city: city}
kpis:
  won_amount: {label: Won, model: deals, aggregate: sum, column: amount, filter: "stage = 'won' AND region = 'east'"}
  deals: {label: Deals, model: deals, aggregate: count}
"""

BY = ["rep.team", "lead.rep.region", "store.city"]
WHERE = "rep.team IN ('a', 'b') OR lead.origin IS NULL"

JOINS = ("FROM sales.deals AS m "
         "LEFT JOIN sales.reps AS j1 ON m.rep_id = j1.rep_id "
         "LEFT JOIN sales.leads AS j2 ON m.lead_id = j2.lead_id "
         "LEFT JOIN sales.reps AS j3 ON j2.owner_id = j3.rep_id "
         "LEFT JOIN sales.stores AS j4 ON m.country = j4.country_code AND m.store_no = j4.number ")
FILTER = "((j1.team) IN ('a', 'b') OR (j2.origin) IS NULL)"

# dialect -> (the joins, the joined dimensions as selected, the filter): written out per dialect, so a
# change in how one dialect renders the construct shows up here, side by side with the others.
EXPECTED = {
    "duckdb": (JOINS, "j1.team AS d_rep__team, LOWER(j3.region) AS d_lead__rep__region, j4.city AS d_store__city",
               FILTER),
    "postgres": (JOINS, ("j1.team AS d_rep__team, LOWER(j3.region) AS d_lead__rep__region, "
                         "j4.city AS d_store__city"), FILTER),
    "mysql": (JOINS, "j1.team AS d_rep__team, LOWER(j3.region) AS d_lead__rep__region, j4.city AS d_store__city",
              FILTER),
    "sqlite": (JOINS, "j1.team AS d_rep__team, LOWER(j3.region) AS d_lead__rep__region, j4.city AS d_store__city",
               FILTER),
    "spark": (JOINS, "j1.team AS d_rep__team, LOWER(j3.region) AS d_lead__rep__region, j4.city AS d_store__city",
              FILTER),
    "snowflake": (JOINS, ("j1.team AS d_rep__team, LOWER(j3.region) AS d_lead__rep__region, "
                          "j4.city AS d_store__city"), FILTER),
    "bigquery": (JOINS, ("j1.team AS d_rep__team, LOWER(j3.region) AS d_lead__rep__region, "
                         "j4.city AS d_store__city"), FILTER),
    "trino": (JOINS, "j1.team AS d_rep__team, LOWER(j3.region) AS d_lead__rep__region, j4.city AS d_store__city",
              FILTER),
    "tsql": (JOINS, "j1.team AS d_rep__team, LOWER(j3.region) AS d_lead__rep__region, j4.city AS d_store__city",
             FILTER),
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("join_dialects")
    (folder / "spec.yml").write_text(SPEC, encoding="utf-8")
    return Engine(load_project(folder))


@pytest.mark.parametrize("dialect", list(EXPECTED))
def test_join_construct_per_dialect(engine, dialect):
    queries = engine.compile(["won_amount", "deals"], "month", BY, dialect=dialect, where=WHERE)
    assert len(queries) == 1, "KPIs of one model and one join path share one scan"
    sql = queries[0].sql
    joins, dims, where = EXPECTED[dialect]
    assert joins in sql, sql
    assert dims in sql, sql
    assert where in sql, sql
    # The fact model's own columns are pinned to m: a region on both sides is never ambiguous.
    assert "m.stage = 'won' AND m.region = 'east'" in sql
    tree = sqlglot.parse_one(sql, read=dialect)
    joins_found = list(tree.find_all(exp.Join))
    assert [j.args.get("side") for j in joins_found] == ["LEFT"] * 4
    # Every column of the query is qualified: m for the facts, j1..j4 for the joined tables.
    assert {c.table for c in tree.find_all(exp.Column)} == {"m", "j1", "j2", "j3", "j4"}
    # The breakdown groups by the joined expressions, below which nothing is aggregated twice.
    group = [g.sql(dialect=dialect) for g in tree.args["group"].expressions]
    assert group[1:] == ["j1.team", "LOWER(j3.region)", "j4.city"]


@pytest.mark.parametrize("dialect", list(EXPECTED))
def test_no_join_without_a_joined_dimension(engine, dialect):
    sql = engine.compile(["deals"], "month", ["region"], dialect=dialect)[0].sql
    assert "JOIN" not in sql and "m.region" not in sql  # the plain query is unchanged


def test_joins_are_shared_by_dimensions_on_one_path(engine):
    sql = engine.compile(["deals"], "month", ["rep.team", "rep.region"], dialect="duckdb")[0].sql
    assert sql.count("LEFT JOIN") == 1
    assert "j1.team AS d_rep__team, LOWER(j1.region) AS d_rep__region" in sql


def test_compiled_query_names_its_join_paths(engine):
    q = engine.compile(["deals"], "month", BY, dialect="duckdb")[0]
    assert q.joins == ["rep.team: deals -[rep]-> reps.team",
                       "lead.rep.region: deals -[lead]-> leads -[rep]-> reps.region",
                       "store.city: deals -[store]-> stores.city"]
