"""Time to convert between funnel steps, as a distribution: how many took under an hour, a day, a week...

The engine reports one median per step; a manager deciding whether a 60-day
window is too short needs the spread. This builds one read-only query on the
funnel's per-entity relation (``kpiengine.funnel_sql.entity_query``, the same
entry and step rules as the funnel's counts), adds each step's epoch seconds
(``e<k>`` in that relation) and counts entities per step and duration bucket,
for one period: the entry period (cohort view) or the period the step happened
(event view).
"""
from __future__ import annotations

from datetime import date

from sqlglot import exp

from ..sql.funnel_sql import entity_query
from ..sql.periods import period_start_expr

# Upper bounds of the buckets, in seconds; the last bucket is open-ended.
BUCKETS = [(3600, "< 1 h"), (86400, "1 h – 1 d"), (3 * 86400, "1 – 3 d"), (7 * 86400, "3 – 7 d"),
           (14 * 86400, "1 – 2 w"), (30 * 86400, "2 – 4 w"), (60 * 86400, "4 – 8 w")]
LAST_BUCKET = "8 w +"


def _date_literal(d: date, dialect: str) -> exp.Expression:
    text = exp.Literal.string(d.isoformat())
    return text if dialect == "sqlite" else exp.cast(text, "date")


def _is(column: exp.Expression, value) -> exp.Expression:
    if value is None:
        return exp.Is(this=column, expression=exp.Null())
    return exp.EQ(this=exp.cast(column, "text"), expression=exp.Literal.string(str(value)))


def time_to_convert_sql(project, funnel, grain: str, period: date, view: str, segment: dict, dialect: str,
                        where: str | None = None) -> str:
    """Per step (2..N) and bucket: the entities that reached the step in ``period``, by their time to get there."""
    dims = list(segment)
    entities = entity_query(project, funnel, dims, dialect, where=where)
    n = len(funnel.steps)
    for k in range(1, n + 1):
        entities = entities.select(exp.column(f"t{k}"), exp.column(f"e{k}"), copy=False)
    edges = [b for b, _ in BUCKETS]
    branches = []
    for k in range(2, n + 1):
        since = exp.column(f"e{k - 1}" if funnel.ordered else "e1")
        gap = exp.Sub(this=exp.column(f"e{k}"), expression=since)
        bucket = exp.Case(ifs=[exp.If(this=exp.LT(this=gap.copy(), expression=exp.Literal.number(edge)),
                                      true=exp.Literal.number(i)) for i, edge in enumerate(edges)],
                          default=exp.Literal.number(len(edges)))
        anchor = exp.column("entered_at" if view == "cohort" else f"t{k}")
        conds = [exp.EQ(this=period_start_expr(anchor, grain, dialect, project.timezone),
                        expression=_date_literal(period, dialect)),
                 exp.Not(this=exp.Is(this=exp.column(f"e{k}"), expression=exp.Null())),
                 exp.EQ(this=exp.column(f"reached_{k}"), expression=exp.Literal.number(1))]
        conds += [_is(exp.column(f"d_{d}"), v) for d, v in segment.items()]
        branches.append(exp.select(exp.alias_(exp.Literal.number(k), "step"), exp.alias_(bucket, "bucket"))
                        .from_("funnel_entities").where(exp.and_(*conds)))
    union = branches[0]
    for b in branches[1:]:
        union = exp.union(union, b, distinct=False)
    final = (exp.select(exp.column("step"), exp.column("bucket"), exp.alias_(exp.Count(this=exp.Star()), "n"))
             .from_(union.subquery("u")).group_by(exp.column("step"), exp.column("bucket"))
             .order_by(exp.column("step"), exp.column("bucket"))
             .with_("funnel_entities", as_=entities))
    return final.sql(dialect=dialect)


def time_to_convert(engine, funnel, grain: str, period: date, view: str, segment: dict,
                    where: str | None = None) -> dict:
    """{"buckets": [labels], "steps": [{"step": name, "counts": [...]}, ...]} for steps 2..N."""
    dialect = engine.dialect_of(funnel.source)
    sql = time_to_convert_sql(engine.project, funnel, grain, period, view, segment, dialect, where)
    rows = engine.run_sql(funnel.source, sql).rows
    labels = [label for _, label in BUCKETS] + [LAST_BUCKET]
    counts = {k: [0] * len(labels) for k in range(2, len(funnel.steps) + 1)}
    for step, bucket, n in rows:
        counts[int(step)][int(bucket)] = int(n)
    return {"buckets": labels, "edges_seconds": [b for b, _ in BUCKETS],
            "steps": [{"step": funnel.steps[k - 1].name, "label": funnel.steps[k - 1].label or funnel.steps[k - 1].name,
                       "counts": counts[k]} for k in sorted(counts)]}
