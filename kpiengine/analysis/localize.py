"""Multi-dimensional root-cause localisation: the smallest set of segments that explains a change.

Input: one row per *leaf* (a combination of dimension values, e.g. region x
channel x rep) with its baseline and its actual value, or, for a ratio KPI
(conversion = won / visits), the baseline and actual numerator and denominator.
Output: a few *elements*, each a conjunction of dimension values over any
number of dimensions (``region=east & channel=web``), with their exact
contribution to the change; everything else is "other".

The method (called the *ripple scan* in docs/rootcause.md) combines the ideas of
the field into one statistical model:

* **Ripple effect** (HotSpot, Squeeze's generalised ripple effect, RiskLoc):
  when a segment is the cause, every leaf inside it moves by the same relative
  amount. Per leaf we regress the deviation ``y = actual - baseline`` on the
  leaf's size ``x``; a leaf moving by a factor ``rho`` has ``y / x`` a function
  of ``rho`` alone (like Squeeze's *deviation score*), the same for
  every leaf of the segment, and it stays defined for leaves that appear or
  vanish. (``x = max(|actual|, |baseline|)`` rather than the mean: noise that
  pushes a leaf toward 0 then has no heavier tail than noise that pushes it up.)
* **Noise model**: ``var(y) = c * x^p``, ``p`` between 1 (Poisson-like counts)
  and 2 (multiplicative fluctuation), fitted robustly (medians of leaves binned
  by size), so small leaves carry little weight; refitted on the leaves not yet
  explained after each pick.
* **Score**: the likelihood-ratio gain of "this element moved by one common
  factor" against "it did not", ``gain = (sum w x r)^2 / (2 sum w x^2)``. It is
  largest exactly on the true element: a parent dilutes the shift with leaves
  that did not move, a child explains fewer leaves. This replaces Adtributor's
  explanatory power and surprise and RiskLoc's risk score with one quantity.
* **Description length**: an element is kept only while its gain exceeds the
  cost of naming it, ``log(number of candidate elements) + strictness`` nats
  (a Bonferroni/MDL penalty). So a finer split never wins just because it is finer.
* **Search**: greedy forward selection on residuals (each pick removes its
  fitted ripple), every cuboid (set of dimensions) scanned at once with
  ``numpy.bincount``; with more than ``beam`` dimensions only the lattice over
  the ``beam`` most promising dimensions is scanned per step and the best
  element is then refined or generalised one dimension at a time (HotSpot's
  hierarchical pruning, as a hill climb in the lattice). A backward pass drops
  elements the others made redundant.
* **Ratios**: two channels share the search: *rate* (the numerator against
  baseline rate x actual denominator, a rate drop) and *volume* (the
  denominator against its share-preserving baseline, a mix shift). The
  reported contribution of each element is the exact rate/mix split of the
  ratio's change over the partition {elements, other}.

Everything here is pure numpy over leaf aggregates; :mod:`kpiengine.analysis.leaves`
gets those from the warehouse.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .rootcause import split_ratio

#: Defaults: documented in docs/rootcause.md and measured by bench/bench_rootcause.py.
STRICTNESS = 3.0  # nats added to log(#candidates) before an element is named
MAX_ELEMENTS = 10
BEAM = 6  # dimensions whose whole lattice is scanned per step
NOISE_FLOOR = 0.01  # relative change below which a leaf is never called significant
MAX_CACHE = 512  # cuboid codings kept per search


@dataclass
class Leaves:
    """Leaf aggregates: one row per combination of dimension values.

    ``codes[i, j]`` indexes ``values[j]`` (the j-th dimension's distinct
    values, None included: a NULL is a value of its own). For an additive KPI
    ``base`` and ``actual`` have shape (n,); for a ratio they have shape (n, 2)
    (numerator, denominator).
    """

    dimensions: list[str]
    codes: np.ndarray
    values: list[list[Any]]
    base: np.ndarray
    actual: np.ndarray
    counts: bool = False  # every input counts events: a better guess of the noise on few leaves

    @property
    def kind(self) -> str:
        return "ratio" if self.base.ndim == 2 else "additive"

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    @classmethod
    def from_records(cls, dimensions: Sequence[str], keys: Sequence[tuple], base, actual) -> "Leaves":
        """Build from dimension-value tuples (one per leaf) and aligned base/actual sequences."""
        codes, values = encode_keys(keys, len(dimensions))
        return cls(list(dimensions), codes, values, np.asarray(base, dtype=float), np.asarray(actual, dtype=float))


def encode_keys(keys: Sequence[tuple], ndims: int) -> tuple[np.ndarray, list[list[Any]]]:
    """Integer codes per dimension (a NULL is a value of its own) and the values behind them."""
    values: list[list[Any]] = [[] for _ in range(ndims)]
    index: list[dict] = [{} for _ in range(ndims)]
    codes = np.zeros((len(keys), ndims), dtype=np.int32)
    for i, key in enumerate(keys):
        for j, v in enumerate(key):
            c = index[j].get(v)
            if c is None:
                c = index[j][v] = len(values[j])
                values[j].append(v)
            codes[i, j] = c
    return codes, values


@dataclass
class Element:
    """One named segment of the answer (or the "other" rest when ``conditions`` is empty)."""

    conditions: tuple[tuple[str, Any], ...]
    gain: float
    channels: list[str]  # change | rate | volume: what moved
    before: float | None = None  # the segment's own value: amount, or rate for ratios
    after: float | None = None
    contribution: float = 0.0  # exact part of the KPI's change
    rate_effect: float | None = None
    mix_effect: float | None = None
    share_before: float | None = None  # share of the denominator (ratios)
    share_after: float | None = None
    leaves: int = 0
    is_other: bool = False

    @property
    def label(self) -> str:
        if self.is_other:
            return "other"
        return " & ".join(f"{d}={'(null)' if v is None else v}" for d, v in self.conditions)

    @property
    def dims(self) -> dict[str, Any]:
        return dict(self.conditions)

    def to_dict(self, change: float | None) -> dict:
        return {"label": self.label, "dimensions": self.dims, "other": self.is_other,
                "before": self.before, "after": self.after, "contribution": self.contribution,
                "share": self.contribution / change if change else None,
                "rate_effect": self.rate_effect, "mix_effect": self.mix_effect,
                "share_before": self.share_before, "share_after": self.share_after,
                "moved": self.channels, "score": None if self.is_other else round(self.gain, 3),
                "leaves": self.leaves}


@dataclass
class Localization:
    dimensions: list[str]
    kind: str  # additive | ratio
    before: float | None
    after: float | None
    elements: list[Element]
    other: Element | None
    leaves: int
    candidates: int
    threshold: float
    parameters: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def change(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before

    def to_dict(self) -> dict:
        ch = self.change
        return {"dimensions": self.dimensions, "kind": self.kind, "before": self.before, "after": self.after,
                "change": ch, "leaves": self.leaves, "candidates": self.candidates,
                "threshold": self.threshold, "parameters": self.parameters, "notes": self.notes,
                "elements": [e.to_dict(ch) for e in self.elements],
                "other": self.other.to_dict(ch) if self.other is not None else None}


# --------------------------------------------------------------------------- channels and noise


@dataclass
class _Channel:
    name: str
    x: np.ndarray  # max(|actual|, |baseline|) of the channel's quantity
    y: np.ndarray  # actual - baseline
    floor: float
    counts: bool = False  # the quantity counts events (Poisson-like noise when nothing else is known)

    order: np.ndarray | None = None  # leaves by size, sorted once

    def noise(self, free: np.ndarray, power: float | None = None) -> tuple[float, float]:
        """(c, p) of the noise fitted on the ``free`` leaves (those no element explains yet)."""
        if self.order is None:
            self.order = np.argsort(self.x, kind="stable")
        pick = self.order[free[self.order]]
        return fit_noise(self.x[pick], self.y[pick], self.floor, presorted=True, counts=self.counts, power=power)

    def weights(self, c: float, p: float) -> np.ndarray:
        """1 / var(y) per leaf."""
        var = c * self.x ** p + (self.floor * self.x) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((self.x > 0) & (var > 0), 1.0 / var, 0.0)


def fit_noise(x: np.ndarray, y: np.ndarray, floor: float = NOISE_FLOOR, presorted: bool = False,
              counts: bool = False, power: float | None = None) -> tuple[float, float]:
    """(c, p) of var(y) = c * x^p + (floor * x)^2, from robust scales of leaves binned by size.

    ``p`` is 1 for Poisson-like counts, 2 for multiplicative noise, in between
    for a mix; it is fitted (log scale against log size) when the leaves span a
    wide enough range of sizes, else it is 1 for ``counts`` and 2 otherwise.
    Each bin's scale is 1.4826 * median |y| (about 0, the no-change value), so
    causes, a minority of the leaves, barely move it.
    """
    keep = x > 0
    xs, ys = x[keep], y[keep]
    prior = 1.0 if counts else 2.0
    if xs.size == 0:
        return 0.0, prior
    if not presorted:
        order = np.argsort(xs, kind="stable")
        xs, ys = xs[order], ys[order]
    nbins = int(max(1, min(20, xs.size // 30)))
    edges = np.linspace(0, xs.size, nbins + 1).astype(int)
    mx, s2 = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi <= lo:
            continue
        a = np.abs(ys[lo:hi])
        scale = 1.4826 * float(np.median(a))
        if scale == 0:  # mostly exact repeats (small counts): the trimmed root mean square instead
            a = np.sort(a)[: max(1, int(0.95 * a.size))]
            scale = float(np.sqrt(np.mean(a * a) / 0.811))
        mx.append(float(np.mean(xs[lo:hi])))
        s2.append(scale * scale)
    mx_a, s2_a = np.array(mx), np.array(s2)
    good = s2_a > 0
    p = prior if power is None else power
    if power is None and good.sum() >= 3 and mx_a[good].max() >= 5 * mx_a[good].min():
        p = float(np.clip(np.polyfit(np.log(mx_a[good]), np.log(s2_a[good]), 1)[0], 1.0, 2.0))
    c = float(np.median(s2_a[good] / mx_a[good] ** p)) if good.any() else 0.0
    return c, p


def _channel(name: str, base: np.ndarray, actual: np.ndarray, floor: float, counts: bool) -> _Channel:
    # Counts: the mean of the two, so a segment's gain is the pooled two-sample Poisson test
    # (V - A)^2 / (2 c (V + A)). Amounts: the larger, whose ratio to the move has no heavy tail.
    size = (np.abs(base) + np.abs(actual)) / 2.0 if counts else np.maximum(np.abs(base), np.abs(actual))
    return _Channel(name, size, actual - base, floor, counts)


def channels_for(leaves: Leaves, floor: float = NOISE_FLOOR) -> list[_Channel]:
    counts = leaves.counts
    if leaves.kind == "additive":
        return [_channel("change", leaves.base, leaves.actual, floor, counts)]
    fn, fd = leaves.base[:, 0], leaves.base[:, 1]
    vn, vd = leaves.actual[:, 0], leaves.actual[:, 1]
    FN, FD, VD = fn.sum(), fd.sum(), vd.sum()
    rate0 = FN / FD if FD else 0.0
    # A leaf's own baseline rate (the overall one where it had no denominator). Not shrunk
    # toward the overall rate: that would bias low-rate leaves up and high-rate ones down,
    # unevenly in relative terms, and the bias would add up over big segments.
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.where(fd > 0, fn / fd, rate0)
    out = [_channel("rate", vd * own, vn, floor, counts)]
    if FD > 0 and VD > 0:
        out.append(_channel("volume", fd * (VD / FD), vd, floor, counts))
    return out


# --------------------------------------------------------------------------- the lattice of cuboids


class _Lattice:
    """Compact element codes per cuboid (set of dimension indexes), built from the prefix cuboid."""

    def __init__(self, codes: np.ndarray, cards: list[int]):
        self.codes, self.cards = codes, cards
        self.n = codes.shape[0]
        self.cache: dict[tuple[int, ...], tuple[np.ndarray, int]] = {}

    def coding(self, cuboid: tuple[int, ...]) -> tuple[np.ndarray, int]:
        hit = self.cache.get(cuboid)
        if hit is not None:
            return hit
        if len(cuboid) == 1:
            d = cuboid[0]
            out = (self.codes[:, d], self.cards[d])
        else:
            inv, size = self.coding(cuboid[:-1])
            d = cuboid[-1]
            key = inv.astype(np.int64) * self.cards[d] + self.codes[:, d]
            span = size * self.cards[d]
            if span <= 8 * self.n + 1024:
                present = np.zeros(span, dtype=bool)
                present[key] = True
                remap = np.cumsum(present, dtype=np.int64) - 1
                out = (remap[key].astype(np.int32), int(present.sum()))
            else:
                uniq, inverse = np.unique(key, return_inverse=True)
                out = (inverse.astype(np.int32).ravel(), int(uniq.size))
        if len(self.cache) >= MAX_CACHE:
            self.cache.pop(next(iter(self.cache)))
        self.cache[cuboid] = out
        return out


def _subsets(dims: Sequence[int]) -> list[tuple[int, ...]]:
    dims = sorted(dims)
    return [c for k in range(1, len(dims) + 1) for c in itertools.combinations(dims, k)]


def count_candidates(lattice: _Lattice, m: int, beam: int) -> int:
    """Number of elements the search could name (for the description-length penalty)."""
    if m <= beam:
        return sum(lattice.coding(c)[1] for c in _subsets(range(m)))
    # Too many cuboids to code them all: count exactly to depth 2, bound deeper ones by the leaves.
    total = sum(lattice.cards)
    total += sum(lattice.coding(c)[1] for c in itertools.combinations(range(m), 2))
    deeper = sum(math.comb(m, k) for k in range(3, min(m, beam) + 1))
    return int(total + deeper * lattice.n)


# --------------------------------------------------------------------------- the search


@dataclass
class _Pick:
    cuboid: tuple[int, ...]
    channel: int
    gain: float
    mask: np.ndarray  # leaves inside


def _mask_of(lattice: _Lattice, cuboid: tuple[int, ...], code: int) -> np.ndarray:
    inv, _ = lattice.coding(cuboid)
    return inv == code


def _gain(mask: np.ndarray, ch: _Channel, r: np.ndarray, w: np.ndarray) -> float:
    """The gain of the leaves in ``mask`` moving together: (sum w x r)^2 / (2 sum w x^2)."""
    wx = w[mask] * ch.x[mask]
    # Element-wise sums, not np.dot: BLAS threads cost far more than they save on a busy machine.
    P, Q = float((wx * r[mask]).sum()), float((wx * ch.x[mask]).sum())
    return 0.5 * P * P / Q if Q > 0 else 0.0


def _conditions_of(codes: np.ndarray, cuboid, mask) -> tuple[tuple[int, int], ...]:
    i = int(np.flatnonzero(mask)[0])
    return tuple((d, int(codes[i, d])) for d in cuboid)


def _mask_for(codes: np.ndarray, conds: tuple[tuple[int, int], ...]) -> np.ndarray:
    mask = np.ones(codes.shape[0], dtype=bool)
    for d, v in conds:
        mask &= codes[:, d] == v
    return mask


def _climb(codes, conds, ch, r, w, gain):
    """Hill climb in the lattice: add or drop one dimension value while the gain grows."""
    m = codes.shape[1]
    while True:
        mask = _mask_for(codes, conds)
        best = (gain, None)
        used = {d for d, _ in conds}
        idx = np.flatnonzero(mask)
        wx = w[idx] * ch.x[idx]
        for d in range(m):
            if d in used:
                continue
            P = np.bincount(codes[idx, d], weights=wx * r[idx])
            Q = np.bincount(codes[idx, d], weights=wx * ch.x[idx])
            with np.errstate(divide="ignore", invalid="ignore"):
                g = np.where(Q > 0, 0.5 * P * P / Q, 0.0)
            j = int(np.argmax(g)) if g.size else 0
            if g.size and g[j] > best[0] * (1 + 1e-9):
                best = (float(g[j]), tuple(sorted(conds + ((d, j),))))
        if len(conds) > 1:
            for k in range(len(conds)):
                parent = conds[:k] + conds[k + 1:]
                g = _gain(_mask_for(codes, parent), ch, r, w)
                if g > best[0] * (1 + 1e-9):
                    best = (g, parent)
        if best[1] is None:
            return conds, gain
        gain, conds = best


def common_shift(ch: _Channel, r: np.ndarray, w: np.ndarray, window: float = 2.5) -> float:
    """The ripple every leaf not yet explained shares (a global trend, or the forecast's bias).

    Scanning against it instead of against "no change" means a change spread
    evenly over everything is never pinned on one big segment. Estimated as the
    weighted mean of the leaves within ``window`` robust deviations of no change
    (so the causes, far out, do not drag it: the baseline is trusted for most of
    the business); only when under a fifth of them are that close did everything
    move, and the window is centred on the median instead.
    """
    ok = np.flatnonzero(w > 0)  # w > 0 implies x > 0
    if ok.size == 0:
        return 0.0
    x = ch.x[ok]
    u = r[ok] / x
    wt = w[ok] * x * x
    a = np.abs(u)
    # The scale from the smallest fifth of the moves: right even when most leaves are causes.
    k = int(0.2 * (a.size - 1))
    scale = float(np.partition(a, k)[k]) / 0.2533
    if scale == 0:
        return 0.0
    near = a <= window * scale
    if wt[near].sum() < 0.2 * wt.sum():
        centre = float(np.median(u))
        scale = 1.4826 * float(np.median(np.abs(u - centre)))
        near = np.abs(u - centre) <= window * max(scale, 1e-12)
    total = wt[near].sum()
    return float((wt[near] * u[near]).sum() / total) if total > 0 else 0.0


def _explained(picks: list[_Pick], chans, w) -> float:
    """Twice the deviance the picks explain, each leaf counted in the first pick (per channel) holding it."""
    taken = [np.zeros(len(ch.x), dtype=bool) for ch in chans]
    total = 0.0
    for p in picks:
        mine = p.mask & ~taken[p.channel]
        taken[p.channel] |= mine
        g = _gain(mine, chans[p.channel], chans[p.channel].y, w[p.channel])
        total += 2.0 * g
    return total


class _Sums:
    """Per cuboid and channel: sum of w x y and of w x^2 over the free leaves of each element.

    Kept up to date when a pick takes leaves out, so a step costs array
    arithmetic, not a new pass of bincount over every leaf of every cuboid.
    """

    def __init__(self, lattice: _Lattice, chans, w0, free):
        self.lattice, self.chans, self.w0, self.free = lattice, chans, w0, free
        self.data: dict[tuple[int, ...], list[tuple[np.ndarray, np.ndarray]]] = {}

    def get(self, cub: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
        hit = self.data.get(cub)
        if hit is None:
            inv, size = self.lattice.coding(cub)
            hit = []
            for c, ch in enumerate(self.chans):
                wx = np.where(self.free[c], self.w0[c] * ch.x, 0.0)
                hit.append((np.bincount(inv, weights=wx * ch.y, minlength=size),
                            np.bincount(inv, weights=wx * ch.x, minlength=size)))
            self.data[cub] = hit
        return hit

    def remove(self, c: int, leaves: np.ndarray) -> None:
        """Take ``leaves`` (indexes, still free) out of channel ``c``."""
        ch = self.chans[c]
        wx = self.w0[c][leaves] * ch.x[leaves]
        py, qx = wx * ch.y[leaves], wx * ch.x[leaves]
        for cub, per in self.data.items():
            inv, size = self.lattice.coding(cub)
            P, Q = per[c]
            np.subtract.at(P, inv[leaves], py)
            np.subtract.at(Q, inv[leaves], qx)
        self.free[c][leaves] = False


def _best(sums: _Sums, cuboids, shifts, scales) -> tuple[float, tuple | None]:
    """The element of largest gain, gain = k (P - shift Q)^2 / 2Q, over ``cuboids`` and channels."""
    best, where = 0.0, None
    for cub in cuboids:
        for c, (P, Q) in enumerate(sums.get(cub)):
            R = P - shifts[c] * Q
            g = np.divide(R * R, Q, out=np.zeros(Q.size), where=Q > 1e-300)
            j = int(np.argmax(g))
            gain = 0.5 * scales[c] * float(g[j])
            if gain > best:
                best, where = gain, (cub, j, c)
    return best, where


def search(leaves: Leaves, *, strictness: float = STRICTNESS, max_elements: int = MAX_ELEMENTS,
           beam: int = BEAM, noise_floor: float = NOISE_FLOOR) -> tuple[list[_Pick], int, float, list]:
    """The ripple scan: picks (cuboid, element, channel, gain), the candidate count and the threshold.

    Each pick takes its leaves out of the channel it was found in (as RiskLoc and
    Squeeze do), so two overlapping causes are not "explained" a third time by
    their intersection. The noise's shape (power) is fitted once; its scale is
    refitted on the leaves still unexplained before every step, so big causes
    found first no longer inflate it.
    """
    n, m = leaves.codes.shape
    chans = channels_for(leaves, noise_floor)
    if n == 0 or m == 0:
        return [], 0, 0.0, chans
    lattice = _Lattice(leaves.codes, [max(1, len(v)) for v in leaves.values])
    candidates = count_candidates(lattice, m, beam) * len(chans)
    threshold = math.log(max(candidates, 2)) + strictness
    free = [np.ones(n, dtype=bool) for _ in chans]
    shape = [ch.noise(f) for ch, f in zip(chans, free)]
    w0 = [ch.weights(c, p) for ch, (c, p) in zip(chans, shape)]
    sums = _Sums(lattice, chans, w0, free)
    picks: list[_Pick] = []
    full = _subsets(range(m)) if m <= beam else None

    def scale_of(c: int) -> float:  # the noise scale now, relative to the first fit
        c_now, _ = chans[c].noise(free[c], shape[c][1])
        return shape[c][0] / c_now if c_now > 0 else 1.0

    def shift_of(c: int, without: np.ndarray | None = None) -> float:
        wf = np.where(free[c] if without is None else free[c] & ~without, w0[c], 0.0)
        return common_shift(chans[c], chans[c].y, wf)

    for _ in range(max_elements):
        scales = [scale_of(c) for c in range(len(chans))]
        shifts = [shift_of(c) for c in range(len(chans))]
        if full is not None:
            cuboids = full
        else:
            ranked = [(_best(sums, [(d,)], shifts, scales)[0], d) for d in range(m)]
            cuboids = _subsets([d for _, d in sorted(ranked, reverse=True)[:beam]])
        gain, where = _best(sums, cuboids, shifts, scales)
        if where is not None and len(where[0]) < m:
            # The common shift was estimated with the best candidate's own leaves in it, which
            # drags it toward the cause when leaves are noisy (few events each): re-estimate
            # it without them and look again.
            inside = _mask_of(lattice, where[0], where[1])
            c0 = where[2]
            if w0[c0][inside & free[c0]].sum() > 0.02 * w0[c0][free[c0]].sum():
                shifts[c0] = shift_of(c0, inside)
                gain, where = _best(sums, cuboids, shifts, scales)
        if where is None or gain < threshold:
            break
        cub, code, c = where
        mask = _mask_of(lattice, cub, code)
        wc = np.where(free[c], w0[c] * scales[c], 0.0)
        resid = chans[c].y - shifts[c] * chans[c].x
        if full is None:  # the beam may have cut the true element's dimensions: climb to it
            conds, gain = _climb(leaves.codes, _conditions_of(leaves.codes, cub, mask), chans[c], resid, wc, gain)
            cub = tuple(d for d, _ in conds)
            mask = _mask_for(leaves.codes, conds)
        picks.append(_Pick(cub, c, gain, mask))
        sums.remove(c, np.flatnonzero(mask & free[c]))
    w = [wc * scale_of(c) for c, wc in enumerate(w0)]
    return _prune(picks, chans, w, threshold), candidates, threshold, chans


def _prune(picks: list[_Pick], chans, w, threshold: float) -> list[_Pick]:
    """Backward pass: drop the pick whose removal costs least while that cost is under the threshold."""
    picks = list(picks)
    while len(picks) > 1:
        full = _explained(picks, chans, w)
        losses = [0.5 * (full - _explained(picks[:j] + picks[j + 1:], chans, w)) for j in range(len(picks))]
        j = int(np.argmin(losses))
        if losses[j] >= threshold:
            break
        picks.pop(j)
    return picks


# --------------------------------------------------------------------------- the answer


def _merge_channels(picks: list[_Pick], lattice_codes: np.ndarray) -> list[tuple[tuple, np.ndarray, float, list[int]]]:
    """One entry per distinct element (an element found in both ratio channels is one answer)."""
    out: dict[tuple, list] = {}
    for p in picks:
        conds = _conditions_of(lattice_codes, p.cuboid, p.mask)
        entry = out.setdefault(conds, [conds, p.mask, 0.0, []])
        entry[2] += p.gain
        entry[3].append(p.channel)
    return [tuple(v) for v in out.values()]


def localize(leaves: Leaves, *, strictness: float = STRICTNESS, max_elements: int = MAX_ELEMENTS,
             beam: int = BEAM, noise_floor: float = NOISE_FLOOR) -> Localization:
    """Find the elements that explain the change from ``leaves.base`` to ``leaves.actual`` (see module doc)."""
    picks, candidates, threshold, chans = search(leaves, strictness=strictness, max_elements=max_elements,
                                                 beam=beam, noise_floor=noise_floor)
    found = _merge_channels(picks, leaves.codes)
    # Partition the leaves as the search did: a leaf belongs to the first element found holding it.
    cell = np.full(len(leaves), -1, dtype=np.int64)
    for k, (_, mask, _, _) in enumerate(found):
        cell[(cell < 0) & mask] = k
    names = [c.name for c in chans]
    elements = []
    for conds, _mask, gain, chs in found:
        labelled = tuple((leaves.dimensions[d], leaves.values[d][v]) for d, v in conds)
        elements.append(Element(labelled, gain, sorted({names[c] for c in chs})))
    other = Element((), 0.0, [], is_other=True)
    params = {"strictness": strictness, "max_elements": max_elements, "beam": beam, "noise_floor": noise_floor}
    loc = Localization(list(leaves.dimensions), leaves.kind, None, None, elements, other, len(leaves),
                       candidates, round(threshold, 3), params)
    _contributions(loc, leaves, cell)
    loc.elements.sort(key=lambda e: -abs(e.contribution))
    return loc


def _contributions(loc: Localization, leaves: Leaves, cell: np.ndarray) -> None:
    """Exact contributions over the partition {elements..., other}: they add up to the change."""
    k = len(loc.elements)
    idx = np.where(cell < 0, k, cell)
    groups = loc.elements + [loc.other]
    if leaves.kind == "additive":
        b = np.bincount(idx, weights=leaves.base, minlength=k + 1)
        a = np.bincount(idx, weights=leaves.actual, minlength=k + 1)
        counts = np.bincount(idx, minlength=k + 1)
        loc.before, loc.after = float(leaves.base.sum()), float(leaves.actual.sum())
        for g, e in enumerate(groups):
            e.before, e.after, e.contribution, e.leaves = float(b[g]), float(a[g]), float(a[g] - b[g]), int(counts[g])
        return
    sums = [np.bincount(idx, weights=col, minlength=k + 1)
            for col in (leaves.base[:, 0], leaves.base[:, 1], leaves.actual[:, 0], leaves.actual[:, 1])]
    counts = np.bincount(idx, minlength=k + 1)
    keyed = [{(g,): float(s[g]) for g in range(k + 1)} for s in sums]
    split = split_ratio(["cell"], *keyed)
    loc.before, loc.after = split.before, split.after
    if split.note:
        loc.notes.append(split.note)
    by_key = {s.key[0]: s for s in split.segments}
    for g, e in enumerate(groups):
        seg = by_key.get(g)
        e.leaves = int(counts[g])
        if seg is None:
            continue
        e.before, e.after, e.contribution = seg.before, seg.after, seg.contribution
        e.rate_effect, e.mix_effect = seg.rate_effect, seg.mix_effect
        e.share_before, e.share_after = seg.share_before, seg.share_after
