"""The demo sales warehouse: a deterministic, realistic DuckDB file for `kpi demo`.

Everything is generated inside DuckDB with set-based SQL, so a few hundred
thousand rows take a few seconds. Randomness comes from :func:`_RANDOM_MACROS`,
a counter-based generator written in integer arithmetic (128-bit HUGEINT,
modulo the Mersenne prime 2^61-1): a draw depends only on (seed, salt, row key),
never on thread scheduling, row order or the DuckDB version's own hash, so the
same seed gives byte-identical tables on every machine. Only + - * / and
rounding touch floating point (no log/exp/sin whose last bits vary by libm).

The story the data tells (26 weeks ending on ``DEMO_END`` by default):

* ``reps``: 12 sales reps in each of 5 regions, each with a baseline mindset.
* ``rep_mindset``: the weekly training/attitude score (0-10) of every rep.
* ``leads``: leads by day, region and channel (fewer on weekends, slow growth);
  about 3 % have no channel (untracked forms); each lead has a customer grade
  (A/B/C) and the product tier it asked about.
* ``activities``: calls, visits and meetings, each on a recent lead of the
  same region, owned by the lead's rep.
* ``deals``: proposals made at visits. Won and lost deals close in the week
  of their visit (so ``deals_won / visits`` is a clean weekly rate); recent
  deals may still be open (``proposal``/``negotiation``, no ``closed_at``).
* ``customers``: one per won deal; referral-channel customers name the
  existing customer who referred them (``referred_by``).
* ``orders``: each customer's first order plus repeat purchases.

ONE planted drop: in region ``PLANTED_REGION`` during the week starting
``PLANTED_WEEK`` the win probability of a visit falls to 40 % of normal, so
conversion (won deals / visits) drops from about 20 % to about 8 % while
visits there stay steady and the other regions stay normal. Tests, alert
rules and the dashboard all look for exactly this drop.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

from ..errors import KpiEngineError

#: The warehouse ends just before this Monday (exclusive); fixed so every run agrees.
DEMO_END = date(2026, 11, 2)
DEFAULT_WEEKS = 26
# Seed 3: in the planted week every other region stays within 8 % of its last 4 weeks,
# so the planted drop is the only thing a sensible alert rule should catch.
DEFAULT_SEED = 3
#: The planted conversion drop: region and week (Monday) where it happens.
PLANTED_REGION = "east"
PLANTED_WEEK = date(2026, 10, 26)
#: Win probability of a visit in the planted region and week, relative to normal.
PLANTED_FACTOR = 0.4

TABLES = ("reps", "rep_mindset", "leads", "activities", "deals", "customers", "orders")

# (region, volume factor, base win probability of a visit)
REGIONS = [
    ("north", 1.00, 0.205),
    ("south", 1.15, 0.195),
    ("east", 1.05, 0.200),
    ("west", 0.85, 0.210),
    ("central", 0.95, 0.190),
]
REPS_PER_REGION = 12
# (channel, share of leads, win multiplier, grade A share, grade B share)
CHANNELS = [
    ("web", 0.38, 1.00, 0.18, 0.37),
    ("referral", 0.14, 1.35, 0.35, 0.40),
    ("event", 0.14, 1.10, 0.22, 0.38),
    ("cold_call", 0.22, 0.70, 0.10, 0.30),
    ("partner", 0.12, 1.15, 0.30, 0.40),
]
GRADE_WIN = {"A": 1.45, "B": 1.0, "C": 0.72}
# Product tiers of the brief: free (lead magnet), traffic, hit, profit, brand.
# (tier, share of leads, typical first-order amount)
TIERS = [
    ("free", 0.30, 800),
    ("traffic", 0.25, 3000),
    ("hit", 0.25, 9000),
    ("profit", 0.12, 24000),
    ("brand", 0.08, 60000),
]
# ISO weekday -> activity factor (Monday 1 .. Sunday 7): a working-week rhythm.
WEEKDAY_FACTOR = {1: 1.0, 2: 1.1, 3: 1.1, 4: 1.05, 5: 0.85, 6: 0.25, 7: 0.1}
# Per region and week at scale 1 (before the region factor).
LEADS_PER_WEEK = 900
VISITS_PER_WEEK = 450
CALLS_PER_VISIT = 1.8
MEETINGS_PER_VISIT = 0.4
# Share of visits that end in a lost deal, and in a still-open one (recent weeks only).
LOST_SHARE = 0.20
OPEN_SHARE = 0.10
OPEN_WEEKS = 3
# A visit goes to a lead created within about this many days in its region.
LEAD_WINDOW_DAYS = 12

FIRST_NAMES = ["Wei", "Anna", "Jun", "Maria", "Hao", "Lena", "Ming", "Sofia", "Tao", "Elena",
               "Yan", "David", "Li", "Sara", "Chen", "Omar"]
LAST_NAMES = ["Zhang", "Schmidt", "Wang", "Rossi", "Liu", "Novak", "Chen", "Garcia",
              "Huang", "Kim", "Zhao", "Silva", "Wu", "Jansen", "Lin", "Okafor"]

_P61 = 2**61 - 1
_TWO53 = 2**53

# rnd(seed, salt, key) -> DOUBLE in [0, 1): two rounds of x*x + c mod 2^61-1 over a
# linear mix of the inputs, then the low 53 bits as an exact double.
_RANDOM_MACROS = [
    f"CREATE TEMP MACRO mix61(x) AS ((x * x + 1442695040888963407) % {_P61})",
    f"""CREATE TEMP MACRO rnd(seed, salt, k) AS
        (mix61(mix61((k::HUGEINT * 6364136223846793005 + salt::HUGEINT * 1442695040888963407
                      + seed::HUGEINT * 2862933555777941757 + 7) % {_P61}) + salt)
         % {_TWO53})::DOUBLE / {_TWO53}.0""",
]


class DemoError(KpiEngineError):
    """The demo warehouse could not be written (bad option, unwritable path)."""


@dataclass
class DemoInfo:
    path: str
    seed: int
    weeks: int
    scale: float
    start: date  # first day (a Monday), inclusive
    end: date  # DEMO_END, exclusive
    planted_region: str = PLANTED_REGION
    planted_week: date = PLANTED_WEEK
    row_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())


def _values(rows: list[tuple]) -> str:
    """A VALUES list of trusted constants from this module (never user input)."""
    def lit(v):
        return f"'{v}'" if isinstance(v, str) else repr(v)
    return ", ".join("(" + ", ".join(lit(v) for v in row) + ")" for row in rows)


def _table(name: str, columns: str, rows: list[tuple]) -> str:
    return f"CREATE TEMP TABLE {name} AS SELECT * FROM (VALUES {_values(rows)}) v({columns})"


def _config_sql() -> list[str]:
    regions = [(i, name, vol, win) for i, (name, vol, win) in enumerate(REGIONS)]
    channels = [(i, *row) for i, row in enumerate(CHANNELS)]
    tiers, cum = [], 0.0
    for name, share, amount in TIERS:
        tiers.append((name, round(cum, 6), round(cum + share, 6), float(amount)))
        cum += share
    names = [(i, f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[(i * 7 + i // len(FIRST_NAMES)) % len(LAST_NAMES)]}")
             for i in range(len(REGIONS) * REPS_PER_REGION)]
    return [
        _table("cfg_region", "region_idx, region, vol, win", regions),
        _table("cfg_channel", "channel_idx, channel, share, win, grade_a, grade_b", channels),
        _table("cfg_tier", "product_tier, lo, hi, amount", tiers),
        _table("cfg_weekday", "dow, factor", sorted(WEEKDAY_FACTOR.items())),
        _table("cfg_grade", "grade, win", sorted(GRADE_WIN.items())),
        _table("cfg_name", "idx, rep_name", names),
    ]


def _generation_sql(seed: int, start: date, end: date, scale: float) -> list[str]:
    """The statements that build the tables, in order. Every number is validated by build_demo."""
    days = (end - start).days
    wf_sum = sum(WEEKDAY_FACTOR.values())
    s = int(seed)
    start_lit, end_lit = f"DATE '{start.isoformat()}'", f"DATE '{end.isoformat()}'"
    open_from = f"DATE '{(end - timedelta(weeks=OPEN_WEEKS)).isoformat()}'"
    planted = f"DATE '{PLANTED_WEEK.isoformat()}'"
    # How many of a region's most recent leads a visit picks from (about LEAD_WINDOW_DAYS of leads).
    lead_window = max(1, int(LEADS_PER_WEEK * scale * LEAD_WINDOW_DAYS / 7))
    return [
        # --- calendar: one row per day, with its weekday factor and a slow growth trend
        f"""CREATE TEMP TABLE cal AS
            SELECT d::DATE AS day, (d::DATE - {start_lit}) AS day_idx, w.factor / {wf_sum} * 7 AS wf,
                   1.0 + 0.12 * (d::DATE - {start_lit}) / {days} AS trend
            FROM range({start_lit}, {end_lit}, INTERVAL 1 DAY) t(d)
            JOIN cfg_weekday w ON w.dow = isodow(d::DATE)""",
        # --- reps: 12 per region, a baseline mindset between 4.5 and 9
        f"""CREATE TABLE reps AS
            SELECT (r.region_idx * {REPS_PER_REGION} + k + 1)::INTEGER AS rep_id, n.rep_name AS name,
                   r.region, r.region || '-' || CASE WHEN k < {REPS_PER_REGION // 2} THEN 'a' ELSE 'b' END AS team,
                   round(4.5 + 4.5 * rnd({s}, 1, r.region_idx * 100 + k), 1)::DECIMAL(3,1) AS mindset_score,
                   ({start_lit} - (30 + floor(rnd({s}, 2, r.region_idx * 100 + k) * 900))::INTEGER) AS hired_at
            FROM cfg_region r, range({REPS_PER_REGION}) t(k)
            JOIN cfg_name n ON n.idx = r.region_idx * {REPS_PER_REGION} + k
            ORDER BY rep_id""",
        # --- weekly mindset score: the rep's baseline plus weekly noise, clamped to 0..10
        f"""CREATE TABLE rep_mindset AS
            SELECT p.rep_id, p.name AS rep_name, p.region, p.team, wk::DATE AS week_start,
                   round(greatest(0, least(10, p.mindset_score::DOUBLE
                         + (rnd({s}, 3, p.rep_id * 10000 + (wk::DATE - {start_lit})) - 0.5) * 1.6)), 1)::DECIMAL(3,1) AS score
            FROM reps p, range({start_lit}, {end_lit}, INTERVAL 7 DAY) t(wk)
            ORDER BY week_start, rep_id""",
        # --- leads: expected count per day x region x channel, noisy, stochastically rounded
        f"""CREATE TEMP TABLE lead_cells AS
            SELECT c.day, c.day_idx, r.region_idx, r.region, ch.channel_idx, ch.channel, ch.grade_a, ch.grade_b,
                   (c.day_idx * 100 + r.region_idx * 10 + ch.channel_idx) AS cell,
                   floor({LEADS_PER_WEEK * scale} / 7 * c.wf * c.trend * r.vol * ch.share
                         * (0.85 + 0.3 * rnd({s}, 10, c.day_idx * 100 + r.region_idx * 10 + ch.channel_idx))
                         + rnd({s}, 11, c.day_idx * 100 + r.region_idx * 10 + ch.channel_idx))::INTEGER AS n
            FROM cal c, cfg_region r, cfg_channel ch""",
        f"""CREATE TEMP TABLE leads_raw AS
            SELECT l.*, k, (l.cell * 10000 + k) AS key,
                   l.day + to_seconds((8 * 3600 + floor(rnd({s}, 12, l.cell * 10000 + k) * 11 * 3600))::BIGINT) AS created_at
            FROM lead_cells l, range(l.n) t(k)""",
        f"""CREATE TABLE leads AS
            WITH g AS (
              SELECT *, rnd({s}, 13, key) AS u_grade, rnd({s}, 14, key) AS u_tier,
                     rnd({s}, 15, key) AS u_rep, rnd({s}, 16, key) AS u_null FROM leads_raw)
            SELECT row_number() OVER (ORDER BY created_at, region_idx, channel_idx, k)::INTEGER AS lead_id,
                   created_at,
                   CASE WHEN u_null < 0.03 THEN NULL ELSE channel END AS channel,
                   region,
                   (region_idx * {REPS_PER_REGION} + 1 + floor(u_rep * {REPS_PER_REGION}))::INTEGER AS rep_id,
                   n.rep_name,
                   CASE WHEN u_grade < grade_a THEN 'A' WHEN u_grade < grade_a + grade_b THEN 'B' ELSE 'C' END AS grade,
                   t.product_tier,
                   row_number() OVER (PARTITION BY region ORDER BY created_at, channel_idx, k)::INTEGER AS region_seq
            FROM g
            JOIN cfg_tier t ON u_tier >= t.lo AND u_tier < t.hi
            JOIN cfg_name n ON n.idx = region_idx * {REPS_PER_REGION} + floor(u_rep * {REPS_PER_REGION})
            ORDER BY lead_id""",
        # --- activities: expected calls/visits/meetings per day x region, independent of the leads' volume
        f"""CREATE TEMP TABLE act_cells AS
            SELECT c.day, c.day_idx, r.region_idx, r.region, kd.kind, kd.kind_idx,
                   (c.day_idx * 100 + r.region_idx * 10 + kd.kind_idx) AS cell,
                   floor({VISITS_PER_WEEK * scale} / 7 * kd.ratio * c.wf * c.trend * r.vol
                         * (0.9 + 0.2 * rnd({s}, 20, c.day_idx * 100 + r.region_idx * 10 + kd.kind_idx))
                         + rnd({s}, 21, c.day_idx * 100 + r.region_idx * 10 + kd.kind_idx))::INTEGER AS n
            FROM cal c, cfg_region r,
                 (VALUES ('call', 0, {CALLS_PER_VISIT}), ('visit', 1, 1.0), ('meeting', 2, {MEETINGS_PER_VISIT}))
                   kd(kind, kind_idx, ratio)""",
        f"""CREATE TEMP TABLE act_raw AS
            SELECT a.region, a.region_idx, a.kind, a.kind_idx, k, (a.cell * 10000 + k) AS key,
                   a.day + to_seconds((8 * 3600 + 1800 + floor(rnd({s}, 22, a.cell * 10000 + k) * 10 * 3600))::BIGINT)
                     AS happened_at
            FROM act_cells a, range(a.n) t(k)""",
        # Each activity goes to one of the region's ~LEAD_WINDOW_DAYS most recent leads:
        # the ASOF join finds the newest lead before the activity, then we step back at random.
        # (Leads sharing a region and a second are collapsed first: an ASOF match among ties
        # is not deterministic.)
        f"""CREATE TEMP TABLE act_lead AS
            WITH lead_times AS (
              SELECT region, created_at, max(region_seq) AS region_seq FROM leads GROUP BY region, created_at)
            SELECT a.*, greatest(1, l.region_seq - floor(rnd({s}, 23, a.key) * {lead_window}))::INTEGER AS pick
            FROM act_raw a ASOF JOIN lead_times l ON a.region = l.region AND a.happened_at >= l.created_at""",
        f"""CREATE TABLE activities AS
            SELECT row_number() OVER (ORDER BY a.happened_at, a.region_idx, a.kind_idx, a.k)::INTEGER AS activity_id,
                   l.rep_id, l.rep_name, l.lead_id, a.kind, a.happened_at, a.region, l.channel, l.grade, l.product_tier,
                   (CASE a.kind WHEN 'call' THEN 5 WHEN 'visit' THEN 40 ELSE 30 END
                    + floor(rnd({s}, 24, a.key) * CASE a.kind WHEN 'call' THEN 20 ELSE 60 END))::INTEGER AS duration_min,
                   a.key AS gen_key
            FROM act_lead a JOIN leads l ON l.region = a.region AND l.region_seq = a.pick
            ORDER BY activity_id""",
        # --- deals: every visit may become a proposal; its outcome depends on region, channel,
        # grade and the rep's mindset, and on the planted drop.
        f"""CREATE TEMP TABLE visit_outcome AS
            SELECT v.*, r.win * coalesce(ch.win, 0.95) * g.win * (0.75 + 0.5 * (p.mindset_score::DOUBLE - 4.5) / 4.5)
                     * CASE WHEN v.region = '{PLANTED_REGION}' AND date_trunc('week', v.happened_at) = {planted}
                            THEN {PLANTED_FACTOR} ELSE 1.0 END AS p_won,
                   rnd({s}, 30, v.gen_key) AS u_out
            FROM activities v
            JOIN cfg_region r ON r.region = v.region
            LEFT JOIN cfg_channel ch ON ch.channel = v.channel
            JOIN cfg_grade g ON g.grade = v.grade
            JOIN reps p ON p.rep_id = v.rep_id
            WHERE v.kind = 'visit'""",
        f"""CREATE TABLE deals AS
            WITH o AS (
              SELECT *, CASE
                  WHEN u_out < p_won THEN 'won'
                  WHEN u_out < p_won + {LOST_SHARE} THEN 'lost'
                  WHEN u_out < p_won + {LOST_SHARE + OPEN_SHARE} THEN
                       CASE WHEN happened_at < {open_from} THEN 'lost'
                            WHEN rnd({s}, 31, gen_key) < 0.5 THEN 'proposal' ELSE 'negotiation' END
                  END AS stage,
                  -- won and lost deals close within 3 days, never after the visit's week
                  epoch(date_trunc('week', happened_at) + INTERVAL 7 DAY) - epoch(happened_at) AS secs_left
              FROM visit_outcome)
            SELECT row_number() OVER (ORDER BY o.happened_at, o.activity_id)::INTEGER AS deal_id,
                   o.lead_id, o.rep_id, o.rep_name, o.region, o.channel, o.grade, o.product_tier, o.stage,
                   o.happened_at AS created_at,
                   CASE WHEN o.stage IN ('won', 'lost') THEN o.happened_at + to_seconds(
                        floor(rnd({s}, 32, o.gen_key) * least(3 * 86400, o.secs_left - 1))::BIGINT) END AS closed_at,
                   round(t.amount * (0.5 + rnd({s}, 33, o.gen_key)
                         + rnd({s}, 34, o.gen_key) * rnd({s}, 35, o.gen_key)), 2)::DECIMAL(12,2) AS amount
            FROM o JOIN cfg_tier t ON t.product_tier = o.product_tier
            WHERE o.stage IS NOT NULL
            ORDER BY deal_id""",
        # --- customers: one per won deal; referral-channel customers name an earlier customer
        """CREATE TEMP TABLE customers_raw AS
            SELECT row_number() OVER (ORDER BY closed_at, deal_id)::INTEGER AS customer_id,
                   row_number() OVER (PARTITION BY region ORDER BY closed_at, deal_id)::INTEGER AS region_seq,
                   d.*
            FROM deals d WHERE stage = 'won'""",
        f"""CREATE TABLE customers AS
            SELECT c.customer_id, c.lead_id, c.deal_id, c.rep_id, c.rep_name, c.region, c.channel, c.grade,
                   c.product_tier, c.closed_at AS first_order_at, ref.customer_id AS referred_by
            FROM customers_raw c
            LEFT JOIN customers_raw ref
              ON c.channel = 'referral' AND c.region_seq > 1 AND ref.region = c.region
             AND ref.region_seq = 1 + floor(rnd({s}, 40, c.customer_id) * (c.region_seq - 1))
            ORDER BY c.customer_id""",
        # --- orders: the first order (the won deal) and repeat purchases every 2-7 weeks
        f"""CREATE TEMP TABLE repeats AS
            SELECT c.customer_id, k,
                   c.first_order_at + to_days((k * (14 + floor(rnd({s}, 41, c.customer_id) * 36)))::INTEGER)
                     + to_seconds(floor(rnd({s}, 42, c.customer_id * 100 + k) * 2 * 86400)::BIGINT) AS ordered_at
            FROM customers c,
                 range(1, 1 + floor(rnd({s}, 43, c.customer_id)
                                    * CASE c.grade WHEN 'A' THEN 8 WHEN 'B' THEN 6 ELSE 4 END)::BIGINT) t(k)""",
        f"""CREATE TABLE orders AS
            WITH o AS (
              SELECT c.customer_id, 0 AS k, c.first_order_at AS ordered_at, d.amount
              FROM customers c JOIN deals d ON d.deal_id = c.deal_id
              UNION ALL
              SELECT r.customer_id, r.k, r.ordered_at,
                     round(t.amount * 0.3 * (0.5 + rnd({s}, 44, r.customer_id * 100 + r.k)), 2)::DECIMAL(12,2)
              FROM repeats r JOIN customers c USING (customer_id) JOIN cfg_tier t ON t.product_tier = c.product_tier
              WHERE r.ordered_at < TIMESTAMP '{end.isoformat()}')
            SELECT row_number() OVER (ORDER BY o.ordered_at, o.customer_id, o.k)::INTEGER AS order_id,
                   o.customer_id, o.ordered_at, o.amount, (o.k > 0) AS is_repeat,
                   c.rep_id, c.rep_name, c.region, c.channel, c.grade, c.product_tier
            FROM o JOIN customers c USING (customer_id)
            ORDER BY order_id""",
        "ALTER TABLE activities DROP COLUMN gen_key",
        "ALTER TABLE leads DROP COLUMN region_seq",
    ]


def build_demo(path: str = "demo.duckdb", *, seed: int = DEFAULT_SEED, weeks: int = DEFAULT_WEEKS,
               scale: float = 1.0) -> DemoInfo:
    """Write the demo warehouse to ``path`` (replacing it) and describe what was written.

    ``weeks`` weeks of data end just before ``DEMO_END``; ``scale`` multiplies the
    volumes (1.0 gives about 400,000 rows). The file is built under a temporary
    name and renamed at the end, so an interrupted build never leaves half a warehouse.
    """
    import duckdb  # lazy: `kpi --help` must not load the DuckDB library

    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**40:
        raise DemoError(f"demo seed must be an integer between 0 and 2^40, got {seed!r}")
    if not isinstance(weeks, int) or isinstance(weeks, bool) or not 2 <= weeks <= 260:
        raise DemoError(f"demo weeks must be an integer from 2 to 260, got {weeks!r}")
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not 0.01 <= scale <= 100:
        raise DemoError(f"demo scale must be a number from 0.01 to 100, got {scale!r}")
    end = DEMO_END
    start = end - timedelta(weeks=weeks)
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise DemoError(f"cannot write the demo warehouse: folder {folder} does not exist")
    tmp = path + ".building"
    began = time.perf_counter()
    try:
        _remove_stale(tmp)
        con = duckdb.connect(tmp)
        con.execute("SET enable_progress_bar = false")  # DuckDB draws one on long queries, even in pipes
    except (OSError, duckdb.Error) as exc:
        raise DemoError(f"cannot create {tmp}: {exc}") from None
    try:
        for stmt in _RANDOM_MACROS + _config_sql() + _generation_sql(seed, start, end, float(scale)):
            con.execute(stmt)
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        con.execute("CHECKPOINT")
    except duckdb.Error as exc:  # disk full, out of memory: say so and leave no half-built file
        con.close()
        _remove_stale(tmp)
        raise DemoError(f"building the demo warehouse failed: {exc}") from None
    finally:
        con.close()
    try:
        os.replace(tmp, path)
        if os.path.exists(path + ".wal"):  # a WAL left by an older file at this path is not ours
            os.remove(path + ".wal")
    except OSError as exc:
        raise DemoError(f"cannot replace {path} with the new warehouse: {exc}") from None
    return DemoInfo(path=path, seed=seed, weeks=weeks, scale=float(scale), start=start, end=end,
                    row_counts=counts, seconds=time.perf_counter() - began)


def _remove_stale(tmp: str) -> None:
    """Remove a temporary file (and its WAL) left by an interrupted build."""
    for stale in (tmp, tmp + ".wal"):
        if os.path.isfile(stale):
            os.remove(stale)


def checksum(path: str) -> str:
    """An MD5 over every table's rows in key order: equal files give equal checksums."""
    import duckdb  # lazy: `kpi --help` must not load the DuckDB library

    keys = {"reps": "rep_id", "rep_mindset": "week_start, rep_id", "leads": "lead_id",
            "activities": "activity_id", "deals": "deal_id", "customers": "customer_id",
            "orders": "order_id"}
    digest = hashlib.md5()
    con = duckdb.connect(path, read_only=True)
    try:
        con.execute("SET enable_progress_bar = false")
        for table in TABLES:
            part = con.execute(
                f"SELECT md5(string_agg(t::VARCHAR, '|' ORDER BY {keys[table]})) FROM {table} t").fetchone()[0]
            digest.update(f"{table}:{part};".encode())
    finally:
        con.close()
    return digest.hexdigest()
