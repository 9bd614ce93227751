"""Why a KPI changed between two periods: exact, additive decompositions in pure Python.

The SQL side only returns aggregates (KPI values, numerators and denominators per
segment and period); every bit of arithmetic lives here so it is tested on
hand-worked examples and planted causes, and gives the same answer on every engine.

Three tools, each exactly additive (contributions sum to the change, to float precision):

* :func:`decompose_formula` splits the change of a formula KPI into the
  contribution of each input, recursively down the formula tree (and through
  formula KPIs used as inputs). Sums and differences split directly
  (contribution = the signed change of the term). Products and ratios use the
  log-mean Divisia index, LMDI-I::

      contribution_i = L(y1, y0) * e_i * ln(x_i1 / x_i0),   L(a, b) = (a - b) / (ln a - ln b),  L(a, a) = a

  with e_i = +1 for a factor and -1 for a divisor. Negative values are handled on
  magnitudes when no sign flips (y = sign * prod |x_i|^e_i). **Zeros and sign
  flips**: when an input of a product is 0 (or changes sign) in either period the
  logarithm is undefined, so that one node falls back to the Shapley split of its
  change over its factors (the average, over every order of switching factors
  from the old to the new value, of the change each switch makes). It is also
  exact, and equals the midpoint split a*db + b*da with a-bar/b-bar for two factors.
  **Nulls**: a formula over a missing input has no value (None), so the change
  of a node whose value is None in either period is *undefined*: it is reported
  with ``method="undefined"`` and a note naming the missing inputs, nothing below
  it is split, and no NaN is ever produced.
  A sub-node's contribution is passed down by its scale (contribution per unit of
  its own change), so nested levels stay additive even when a middle node is flat.

* :func:`split_additive` / :func:`split_ratio` rank the values of a dimension by
  their contribution to the change of a total (counts, sums) or of a rate
  (conversion = won / visits). A rate's contribution per segment is split into a
  *rate effect* (its own rate moved, weighted by its average share) and a *mix
  effect* (its share of the denominator moved, valued at its average rate minus
  the average overall rate, so shifting traffic toward a weak segment is negative
  mix, not a rate problem). New segments (no denominator before) and vanished
  segments (none after) are pure mix. Simpson's paradox shows up as every segment
  having a positive rate effect while the mix total is negative.

* :func:`group_other` folds values that explain under ``min_share`` of the total
  absolute contribution into one "other" row (its key is the :data:`OTHER`
  sentinel, never a real value that happens to be called "other");
  :func:`split_pairs` searches two dimensions together and keeps the top combinations.

* :func:`best_split` names the dimension that explains the change: the one
  whose few top values (Adtributor's explanatory-power rule) move the
  distribution most, per value named, so a finer split never wins only by being
  finer. The combination search over many dimensions is
  :mod:`kpiengine.analysis.localize`.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from sqlglot import exp

from ..errors import SpecError, SpecIssue
from ..formatting import NULL_DISPLAY
from ..spec.formula import parse_formula
from ..spec.offsets import FormulaDialect

class _Folded:
    """The key of the folded "other" row: a sentinel, so a real dimension value "other" stays itself."""

    def __repr__(self) -> str:
        return "OTHER"

    def __str__(self) -> str:
        return "other"


OTHER = _Folded()
#: Adtributor's thresholds: a value must explain 10 % of the change to be named, and the
#: named values together 67 %.
MIN_ELEMENT_SHARE = 0.1
EXPLAINED_SHARE = 0.67


# --------------------------------------------------------------------------- formula trees


@dataclass
class Node:
    """A formula tree node, flattened: a sum of signed terms or a product of powered factors."""

    kind: str  # "leaf" | "const" | "sum" | "product"
    name: str | None = None  # KPI name for leaves and for expanded formula KPIs
    value: float | None = None  # constants
    terms: list[tuple[int, "Node"]] = field(default_factory=list)  # (sign or exponent, child)

    def label(self) -> str:
        if self.name:
            return self.name
        if self.kind == "const":
            return _num(self.value)
        if self.kind == "sum":
            text = ""
            for i, (sign, child) in enumerate(self.terms):
                piece = child.label()
                text += (" - " if sign < 0 else " + ") if i else ("-" if sign < 0 else "")
                text += f"({piece})" if child.kind == "sum" and not child.name else piece
            return text
        text = ""
        for i, (power, child) in enumerate(self.terms):
            piece = child.label()
            if child.kind in ("sum", "product") and not child.name:
                piece = f"({piece})"
            text += (" / " if power < 0 else " * ") if i else ("1 / " if power < 0 else "")
            text += piece
        return text


def _num(v: float | None) -> str:
    return "None" if v is None else (f"{v:g}")


def formula_tree(formula: str | exp.Expression, expand: Callable[[str], str | None] | None = None,
                 name: str | None = None, _seen: tuple[str, ...] = ()) -> Node:
    """Build a flattened tree from a formula.

    ``expand(kpi)`` returns the formula text of a formula KPI (None for aggregate
    KPIs); such inputs are expanded into named sub-trees so the decomposition goes
    down the driver tree (performance -> conversion -> deals_won / visits).
    """
    if isinstance(formula, str):
        formula = parse_formula(formula)
    node = _build(formula, expand, _seen + ((name,) if name else ()))
    if name:
        if node.name:  # a formula that is just another KPI's name: wrap it
            node = Node("sum", terms=[(1, node)])
        node.name = name
    return node


def _build(e: exp.Expression, expand, seen) -> Node:
    while isinstance(e, exp.Paren):
        e = e.this
    if isinstance(e, exp.Column):
        sub = expand(e.name) if expand and e.name not in seen else None
        if sub:
            return formula_tree(sub, expand, name=e.name, _seen=seen)
        return Node("leaf", name=e.name)
    if isinstance(e, exp.Literal):
        return Node("const", value=float(e.this))
    if isinstance(e, exp.Bracket):  # revenue[-1]: an input at another period (spec.offsets)
        raise SpecError([SpecIssue(
            f"cannot decompose a formula that reads {e.sql(dialect=FormulaDialect)} at another period",
            hint=f"explain its input instead: kpi explain {e.this.name} --change FROM TO", code="offset")])
    if isinstance(e, exp.Neg):
        return Node("sum", terms=[(-1, _build(e.this, expand, seen))])
    if isinstance(e, (exp.Add, exp.Sub)):
        terms = []
        for sign, side in ((1, e.this), (-1 if isinstance(e, exp.Sub) else 1, e.expression)):
            child = _build(side, expand, seen)
            if child.kind == "sum" and not child.name:  # flatten a + (b - c)
                terms += [(sign * s, c) for s, c in child.terms]
            else:
                terms.append((sign, child))
        return Node("sum", terms=terms)
    if isinstance(e, (exp.Mul, exp.Div)):
        terms = []
        for power, side in ((1, e.this), (-1 if isinstance(e, exp.Div) else 1, e.expression)):
            child = _build(side, expand, seen)
            if child.kind == "product" and not child.name:  # flatten a * (b / c)
                terms += [(power * p, c) for p, c in child.terms]
            else:
                terms.append((power, child))
        return Node("product", terms=terms)
    raise ValueError(f"unsupported formula element {e.sql()!r}: use KPI names, numbers, + - * / and parentheses")


def leaves(node: Node) -> list[str]:
    """KPI names at the leaves of a tree, in order of first appearance."""
    out: dict[str, None] = {}

    def walk(n: Node) -> None:
        if n.kind == "leaf":
            out.setdefault(n.name, None)
        for _, child in n.terms:
            walk(child)

    walk(node)
    return list(out)


def evaluate(node: Node, values: Mapping[str, float | None]) -> float | None:
    """Null-safe value of a tree: a missing input gives None, so does x / 0."""
    if node.kind == "leaf":
        v = values.get(node.name)
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
    if node.kind == "const":
        return node.value
    parts = [(s, evaluate(c, values)) for s, c in node.terms]
    if any(v is None for _, v in parts):
        return None
    if node.kind == "sum":
        return float(sum(s * v for s, v in parts))
    out = 1.0
    for p, v in parts:
        if p < 0:
            if v == 0:
                return None
            out /= v
        else:
            out *= v
    return out if math.isfinite(out) else None


# --------------------------------------------------------------------------- formula decomposition


@dataclass
class Driver:
    """One node of a decomposed change: its values, its contribution to the top-level change."""

    name: str
    before: float | None
    after: float | None
    contribution: float | None  # additive part of the top-level change (None when undefined)
    method: str  # how its children were split: sum | lmdi | shapley | leaf | constant | undefined
    note: str = ""
    children: list["Driver"] = field(default_factory=list)

    @property
    def change(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    @property
    def pct_change(self) -> float | None:
        if self.change is None or not self.before:
            return None
        return self.change / abs(self.before)

    def to_dict(self) -> dict:
        return {"name": self.name, "before": self.before, "after": self.after, "change": self.change,
                "contribution": self.contribution, "method": self.method, "note": self.note,
                "children": [c.to_dict() for c in self.children]}


def log_mean(a: float, b: float) -> float:
    """L(a, b) = (a - b) / (ln a - ln b) for a, b > 0, with L(a, a) = a."""
    if a <= 0 or b <= 0:
        raise ValueError("log mean needs positive values")
    if math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0):
        return (a + b) / 2.0
    return (a - b) / (math.log(a) - math.log(b))


def decompose_formula(node: Node, before: Mapping[str, float | None],
                      after: Mapping[str, float | None]) -> Driver:
    """Split ``after - before`` of the tree's value among its inputs (see module doc)."""
    return _decompose(node, before, after, scale=1.0)


def _decompose(node: Node, v0: Mapping, v1: Mapping, scale: float) -> Driver:
    y0, y1 = evaluate(node, v0), evaluate(node, v1)
    label = node.label()
    if y0 is None or y1 is None:
        missing = [k for k in leaves(node) if v0.get(k) is None or v1.get(k) is None]
        why = (f"no value for {', '.join(missing)} in one of the periods" if missing
               else "a denominator is 0 in one of the periods")
        return Driver(label, y0, y1, None, "undefined", f"change not defined: {why}")
    contribution = scale * (y1 - y0)
    if node.kind == "leaf":
        return Driver(label, y0, y1, contribution, "leaf")
    if node.kind == "const":
        return Driver(label, y0, y1, 0.0, "constant")
    c0 = [evaluate(c, v0) for _, c in node.terms]
    c1 = [evaluate(c, v1) for _, c in node.terms]
    if node.kind == "sum":
        scales = [scale * s for s, _ in node.terms]
        method, note = "sum", ""
    else:
        scales, method, note = _product_scales(node, c0, c1, y0, y1, scale)
    children = [_decompose(child, v0, v1, sc) for (_, child), sc in zip(node.terms, scales)]
    return Driver(label, y0, y1, contribution, method, note, children)


def _product_scales(node: Node, c0: list[float], c1: list[float], y0: float, y1: float,
                    scale: float) -> tuple[list[float], str, str]:
    """Per-factor scale (contribution per unit of the factor's own change) for a product node."""
    powers = [p for p, _ in node.terms]
    same_sign = all(a != 0 and b != 0 and (a > 0) == (b > 0) for a, b in zip(c0, c1))
    if same_sign and y0 != 0 and y1 != 0:
        sign_y = 1.0 if y0 > 0 else -1.0
        ly = log_mean(abs(y1), abs(y0))
        scales = []
        for p, a, b in zip(powers, c0, c1):
            # contribution = sign_y * L(|y|) * p * ln(|b| / |a|) = scale_i * (b - a)
            sign_x = 1.0 if a > 0 else -1.0
            scales.append(scale * sign_y * ly * p * sign_x / log_mean(abs(b), abs(a)))
        return scales, "lmdi", ""
    shap = _shapley(powers, c0, c1)
    scales = []
    for s, a, b in zip(shap, c0, c1):
        scales.append(scale * s / (b - a) if b != a else 0.0)
    zeros = [node.terms[i][1].label() for i, (a, b) in enumerate(zip(c0, c1)) if a == 0 or b == 0]
    why = f"{', '.join(zeros)} is 0 in one period" if zeros else "an input changes sign"
    return scales, "shapley", f"{why}: log split undefined, Shapley split used"


def _shapley(powers: list[int], c0: list[float], c1: list[float]) -> list[float]:
    """Shapley value of each factor in the change of prod x_i^p_i from c0 to c1 (exact, additive)."""
    n = len(powers)

    def value(switched: frozenset[int]) -> float:
        out = 1.0
        for i, p in enumerate(powers):
            x = c1[i] if i in switched else c0[i]
            out = out / x if p < 0 else out * x
        return out

    weights = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)]
    result = []
    others_all = list(range(n))
    for i in range(n):
        others = [j for j in others_all if j != i]
        total = 0.0
        for k in range(n):
            for subset in itertools.combinations(others, k):
                s = frozenset(subset)
                total += weights[k] * (value(s | {i}) - value(s))
        result.append(total)
    return result


def leaf_totals(driver: Driver) -> dict[str, float]:
    """Total contribution per input KPI (an input used twice in the tree is summed)."""
    out: dict[str, float] = {}

    def walk(d: Driver) -> None:
        if d.method == "leaf":
            out[d.name] = out.get(d.name, 0.0) + (d.contribution or 0.0)
        for c in d.children:
            walk(c)

    walk(driver)
    return out


# --------------------------------------------------------------------------- dimension splits


Key = tuple  # dimension values, None allowed (a NULL group of its own)


@dataclass
class Segment:
    key: Key
    before: float | None  # the segment's own value (amount, or rate for ratio splits)
    after: float | None
    contribution: float
    rate_effect: float | None = None
    mix_effect: float | None = None
    share_before: float | None = None  # share of the denominator (ratio splits)
    share_after: float | None = None
    status: str = "both"  # both | new | vanished | grouped
    members: int = 1  # how many values an "other" row holds

    @property
    def label(self) -> str:
        if self.status == "grouped":
            return f"other ({self.members} values)"
        return " x ".join(NULL_DISPLAY if v is None else str(v) for v in self.key)

    def to_dict(self, dims: Sequence[str]) -> dict:
        return {"dimensions": {d: (None if v is OTHER else v) for d, v in zip(dims, self.key)},
                "label": self.label, "before": self.before, "after": self.after,
                "contribution": self.contribution, "rate_effect": self.rate_effect,
                "mix_effect": self.mix_effect, "share_before": self.share_before,
                "share_after": self.share_after, "status": self.status, "members": self.members}


@dataclass
class DimensionSplit:
    dimensions: list[str]
    kind: str  # additive | ratio
    before: float | None
    after: float | None
    segments: list[Segment]  # ranked by |contribution|, "other" last
    note: str = ""

    @property
    def change(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before

    @property
    def rate_effect(self) -> float | None:
        if self.kind != "ratio":
            return None
        return sum(s.rate_effect or 0.0 for s in self.segments)

    @property
    def mix_effect(self) -> float | None:
        if self.kind != "ratio":
            return None
        return sum(s.mix_effect or 0.0 for s in self.segments)

    def share(self, seg: Segment) -> float | None:
        """Signed part of the total change this segment explains (can exceed 1 when others offset)."""
        ch = self.change
        return seg.contribution / ch if ch else None

    def scaled(self, factor: float) -> "DimensionSplit":
        """The same split expressed in units of a parent KPI's change (used under a formula)."""
        segs = [Segment(s.key, s.before, s.after, s.contribution * factor,
                        None if s.rate_effect is None else s.rate_effect * factor,
                        None if s.mix_effect is None else s.mix_effect * factor,
                        s.share_before, s.share_after, s.status, s.members) for s in self.segments]
        return DimensionSplit(self.dimensions, self.kind, self.before, self.after, segs, self.note)

    def to_dict(self) -> dict:
        return {"dimensions": self.dimensions, "kind": self.kind, "before": self.before,
                "after": self.after, "change": self.change, "rate_effect": self.rate_effect,
                "mix_effect": self.mix_effect, "note": self.note,
                "segments": [dict(s.to_dict(self.dimensions), share=self.share(s)) for s in self.segments]}


def _rank(segments: list[Segment]) -> list[Segment]:
    return sorted(segments, key=lambda s: (s.status == "grouped", -abs(s.contribution), _sortable(s.key)))


def _sortable(key: Key) -> tuple:
    return tuple((v is None, str(v)) for v in key)


def _f(v) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def split_additive(dimensions: Sequence[str], before: Mapping[Key, float | None],
                   after: Mapping[Key, float | None]) -> DimensionSplit:
    """Contribution of each value to the change of a total (count, sum): its own change.

    A value missing (or None) in one period counts as 0 there: no rows, nothing counted.
    """
    keys = set(before) | set(after)
    segs = []
    for k in keys:
        b, a = _f(before.get(k)), _f(after.get(k))
        status = "new" if b is None and a is not None else "vanished" if a is None and b is not None else "both"
        segs.append(Segment(tuple(k), b, a, (a or 0.0) - (b or 0.0), status=status))
    tb = sum(_f(v) or 0.0 for v in before.values())
    ta = sum(_f(v) or 0.0 for v in after.values())
    return DimensionSplit(list(dimensions), "additive", tb, ta, _rank(segs))


def split_ratio(dimensions: Sequence[str], num_before: Mapping[Key, float | None],
                den_before: Mapping[Key, float | None], num_after: Mapping[Key, float | None],
                den_after: Mapping[Key, float | None]) -> DimensionSplit:
    """Rate / mix split of the change of sum(num) / sum(den) over the values of a dimension.

    With w the segment's share of the denominator, r its rate, y the overall rate
    and bars for the average of the two periods::

        rate_effect = w_bar * (r1 - r0)
        mix_effect  = (w1 - w0) * (r_bar - y_bar)

    They sum exactly to y1 - y0 (the y_bar terms cancel because shares sum to 1).
    A segment with no denominator in one period has no rate there: it is "new" or
    "vanished", its rate effect is 0 and its whole contribution is mix. Missing or
    None counts as 0. If the total denominator is 0 in a period the overall rate
    is undefined and the split is empty with a note.
    """
    keys = set(num_before) | set(den_before) | set(num_after) | set(den_after)
    n0 = {k: _f(num_before.get(k)) or 0.0 for k in keys}
    d0 = {k: _f(den_before.get(k)) or 0.0 for k in keys}
    n1 = {k: _f(num_after.get(k)) or 0.0 for k in keys}
    d1 = {k: _f(den_after.get(k)) or 0.0 for k in keys}
    D0, D1 = sum(d0.values()), sum(d1.values())
    if D0 == 0 or D1 == 0:
        which = "before" if D0 == 0 else "after"
        y0 = sum(n0.values()) / D0 if D0 else None
        y1 = sum(n1.values()) / D1 if D1 else None
        return DimensionSplit(list(dimensions), "ratio", y0, y1, [],
                              f"the denominator is 0 {which}: the rate and its change are not defined")
    y0, y1 = sum(n0.values()) / D0, sum(n1.values()) / D1
    y_bar = (y0 + y1) / 2.0
    segs = []
    for k in keys:
        w0, w1 = d0[k] / D0, d1[k] / D1
        r0 = n0[k] / d0[k] if d0[k] else None
        r1 = n1[k] / d1[k] if d1[k] else None
        if r0 is None and r1 is None:
            if n0[k] or n1[k]:  # numerator without denominator: counted in the totals' numerator
                segs.append(Segment(tuple(k), None, None, n1[k] / D1 - n0[k] / D0, 0.0,
                                    n1[k] / D1 - n0[k] / D0, w0, w1, "no denominator"))
            continue
        if r0 is None:
            rate, mix, status = 0.0, (w1 - w0) * (r1 - y_bar), "new"
        elif r1 is None:
            rate, mix, status = 0.0, (w1 - w0) * (r0 - y_bar), "vanished"
        else:
            rate = (w0 + w1) / 2.0 * (r1 - r0)
            mix = (w1 - w0) * ((r0 + r1) / 2.0 - y_bar)
            status = "both"
        segs.append(Segment(tuple(k), r0, r1, rate + mix, rate, mix, w0, w1, status))
    return DimensionSplit(list(dimensions), "ratio", y0, y1, _rank(segs))


def _fold(segments: list[Segment], dims: Sequence[str], kind: str) -> Segment:
    """One "other" row holding the exact sums of ``segments`` (so the split stays additive).

    Its before/after are the folded values' total (additive) or pooled rate (ratio).
    """
    if kind != "ratio":
        return Segment((OTHER,) * len(dims), sum(s.before or 0.0 for s in segments),
                       sum(s.after or 0.0 for s in segments), sum(s.contribution for s in segments),
                       status="grouped", members=sum(s.members for s in segments))

    def total(attr: str) -> float:
        return sum(getattr(s, attr) or 0.0 for s in segments)

    def pooled(rate: str, share: str) -> float | None:
        weight = total(share)
        return sum((getattr(s, rate) or 0.0) * (getattr(s, share) or 0.0) for s in segments) / weight \
            if weight else None

    return Segment((OTHER,) * len(dims), pooled("before", "share_before"), pooled("after", "share_after"),
                   total("contribution"), total("rate_effect"), total("mix_effect"), total("share_before"),
                   total("share_after"), "grouped", sum(s.members for s in segments))


def group_other(split: DimensionSplit, min_share: float = 0.05, max_segments: int = 10,
                also_fold: Sequence[Segment] = ()) -> DimensionSplit:
    """Fold values explaining under ``min_share`` of the total absolute contribution into "other".

    The share is taken of the sum of absolute contributions (not of the net change,
    which can be near 0 when segments offset), and at most ``max_segments`` values
    are kept; the grouped row keeps the exact sums, so the split stays additive.
    ``also_fold`` are segments folded into "other" whatever their size.
    """
    segs = [s for s in split.segments if s.status != "grouped"]
    folded = [s for s in split.segments if s.status == "grouped"] + list(also_fold)
    total_abs = sum(abs(s.contribution) for s in segs) + sum(abs(s.contribution) for s in also_fold)
    keep = []
    for s in segs:  # already ranked by |contribution|
        if len(keep) < max_segments and total_abs > 0 and abs(s.contribution) >= min_share * total_abs:
            keep.append(s)
        else:
            folded.append(s)
    if len(folded) == 1 and folded[0].status != "grouped":
        keep.append(folded[0])  # a lone small value is shown as itself, not as "other"
    elif folded:
        keep.append(_fold(folded, split.dimensions, split.kind))
    return DimensionSplit(split.dimensions, split.kind, split.before, split.after, keep, split.note)


def split_pairs(dimensions: Sequence[str], make_split: Callable[[Sequence[str]], DimensionSplit],
                top_per_dimension: int = 5, max_segments: int = 10,
                min_share: float = 0.05) -> DimensionSplit:
    """Two dimensions searched together (region x channel), bounded to the top combinations.

    ``make_split(dims)`` returns the split over one dimension or over the pair.
    Only values among the ``top_per_dimension`` contributors of each single
    dimension are candidates for a combination row of their own; every other
    cell is folded into "other", so a wide dimension never produces thousands of rows.
    """
    if len(dimensions) != 2:
        raise ValueError("split_pairs searches exactly two dimensions")
    a, b = dimensions
    top_a = {s.key[0] for s in make_split([a]).segments[:top_per_dimension]}
    top_b = {s.key[0] for s in make_split([b]).segments[:top_per_dimension]}
    pair = make_split([a, b])
    inside = [s for s in pair.segments if s.key[0] in top_a and s.key[1] in top_b]
    outside = [s for s in pair.segments if not (s.key[0] in top_a and s.key[1] in top_b)]
    candidates = DimensionSplit(pair.dimensions, pair.kind, pair.before, pair.after, inside, pair.note)
    return group_other(candidates, min_share, max_segments, also_fold=outside)


# --------------------------------------------------------------------------- naming the cause


def dominant_effect(seg: Segment) -> str:
    """'rate', 'mix' or 'both' for a ratio segment; 'change' for an additive one."""
    if seg.rate_effect is None or seg.mix_effect is None:
        return "change"
    r, m = abs(seg.rate_effect), abs(seg.mix_effect)
    if r + m == 0:
        return "none"
    # The larger effect is named when it is clearly larger (60 %); noise in rates
    # rarely reaches that against a real mix shift, and vice versa.
    if r >= 0.6 * (r + m):
        return "rate"
    if m >= 0.6 * (r + m):
        return "mix"
    return "both"


def describe_effect(seg: Segment) -> str:
    r, m = abs(seg.rate_effect or 0.0), abs(seg.mix_effect or 0.0)
    eff = dominant_effect(seg)
    if eff == "rate":
        return "all rate effect" if m <= 0.05 * (r + m) else f"mostly rate effect ({r / (r + m):.0%})"
    if eff == "mix":
        return "all mix effect" if r <= 0.05 * (r + m) else f"mostly mix effect ({m / (r + m):.0%})"
    if eff == "both":
        return f"rate effect {r / (r + m):.0%}, mix effect {m / (r + m):.0%}"
    return ""


def _js_term(p: float, q: float) -> float:
    """One value's Jensen-Shannon divergence term between shares p (before) and q (after); 0 ln 0 = 0."""
    m = (p + q) / 2.0
    out = 0.0
    if p > 0:
        out += 0.5 * p * math.log(p / m)
    if q > 0:
        out += 0.5 * q * math.log(q / m)
    return out


def _js(before: Sequence[float], after: Sequence[float]) -> float:
    """Jensen-Shannon divergence between two distributions given as non-negative weights."""
    t0, t1 = sum(before), sum(after)
    if not t0 or not t1:
        return 0.0
    return sum(_js_term(b / t0, a / t1) for b, a in zip(before, after))


def explaining_values(split: DimensionSplit) -> list[Segment]:
    """The few values that explain the change (Adtributor's rule).

    Largest contributors in the direction of the change, each explaining at
    least :data:`MIN_ELEMENT_SHARE` of it, until together they explain
    :data:`EXPLAINED_SHARE`. Empty when no value qualifies.
    """
    change = split.change
    if not change:
        return []
    named, explained = [], 0.0
    for seg in sorted((s for s in split.segments if s.status != "grouped"), key=lambda s: -s.contribution / change):
        share = seg.contribution / change
        if share < MIN_ELEMENT_SHARE:
            break
        named.append(seg)
        explained += share
        if explained >= EXPLAINED_SHARE:
            break
    return named


def _masses(split: DimensionSplit, segs: Sequence[Segment]) -> list[tuple[float, float, float, float]]:
    """(amount before, after) per bin, or for ratios (numerator, denominator) shares before and after.

    Each segment gives two bins, its positive and its negative part, so a
    distribution exists when values are negative, and a margin whose numerator
    turns negative in one region moves that region's mass from one bin to the other.
    """
    def signed(v: float) -> tuple[float, float]:
        return (v, 0.0) if v >= 0 else (0.0, -v)

    out = []
    for s in segs:
        if split.kind != "ratio":
            b, a, db, da = s.before or 0.0, s.after or 0.0, 0.0, 0.0
        else:
            b, a = (s.before or 0.0) * (s.share_before or 0.0), (s.after or 0.0) * (s.share_after or 0.0)
            db, da = s.share_before or 0.0, s.share_after or 0.0
        (bp, bn), (ap, an) = signed(b), signed(a)
        out += [(bp, ap, db, da), (bn, an, 0.0, 0.0)]
    return out


def surprise(split: DimensionSplit, named: Sequence[Segment] | None = None) -> float:
    """How much the distribution moved between the periods (Adtributor's "surprise").

    Jensen-Shannon divergence of the shares of the amount (additive KPIs), or of
    the numerator plus that of the denominator (ratios), over the values in
    ``named`` and one bin for all the rest; with ``named`` None, over every value.
    Coarsening to the named values is what makes splits of different fineness
    comparable: noise spread over many small values no longer adds up.
    """
    segs = list(split.segments)
    if named is None:
        bins = _masses(split, segs)
    else:
        ids = {id(s) for s in named}
        bins = _masses(split, list(named))
        rest = _masses(split, [s for s in segs if id(s) not in ids])
        bins += [tuple(sum(col) for col in zip(*rest[k::2])) if rest else (0.0, 0.0, 0.0, 0.0) for k in (0, 1)]
    cols = list(zip(*bins)) if bins else [(), (), (), ()]
    out = _js(cols[0], cols[1])
    if split.kind == "ratio":
        out += _js(cols[2], cols[3])
    return out


def explanation_score(split: DimensionSplit) -> float:
    """Surprise of the split's explaining values against the rest, per value named (0 if none qualifies).

    Dividing by the number of values is the explanatory-power-per-element rule:
    a finer split that needs three cells to say what one region says scores lower.
    """
    named = explaining_values(split)
    return surprise(split, named) / len(named) if named else 0.0


def best_split(splits: Sequence[DimensionSplit]) -> DimensionSplit | None:
    """The split whose few top values explain the change best (see :func:`explanation_score`).

    A dimension with a single value says nothing about where the change is: it is never chosen
    over one with several.
    """
    usable = [s for s in splits if s.segments and s.change]
    several = [s for s in usable if sum(x.members for x in s.segments) > 1]
    usable = several or usable
    if not usable:
        return None
    return max(usable, key=explanation_score)


def top_inputs(driver: Driver, n: int = 3) -> list[Driver]:
    """Direct inputs of a decomposed formula, largest absolute contribution first."""
    kids = [c for c in driver.children if c.contribution is not None and c.method != "constant"]
    return sorted(kids, key=lambda c: -abs(c.contribution))[:n]
