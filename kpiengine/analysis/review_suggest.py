"""The suggested decision of a review, with the reason a reviewer can check and override.

The rules, first match wins (the thresholds are named below, with why):

1. no value in the window: **adjust** (fix the data before judging the KPI);
2. ``proposed``: **activate** once it carries evidence (a fair share of an
   outcome's movement, or its moves lead an outcome), else keep it proposed;
3. it moved the wrong way itself and explains at least half of the change of
   a steering KPI above it that moved the wrong way: **strengthen** (its
   playbook is where the miss is won back; visits that rose while conversion
   fell are not a miss of visits);
4. ``weakened`` but carrying a fair share again: **activate**;
5. in every steering KPI it is an input of, it moves less than its fair share
   (1 / inputs) of the movement and nets less than half a fair share of the
   change, and it leads no outcome significantly: **weaken** (or **retire**
   when already weakened);
6. its rules fired repeatedly and were mostly silenced, never acted on: **adjust** the rules;
7. every complete target period met by 20 % or more: **adjust** (raise the
   target); every one missed by more than 20 %: **adjust** (the target is out
   of reach, or the playbook does not work);
8. otherwise **keep**.

*Steering* KPIs are the outcomes (``tags: [outcome]``) and the formula KPIs
inside their trees (conversion inside performance); ratios kept for diagnosis
only (average deal size) are reported but do not drive the suggestion.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STRONG_SHARE = 0.5  # "explains most of the change": at least half of it
MIN_MOVE = 0.02  # an outcome that moved less than 2 % over the window has no miss worth attributing
NOISY_FIRED = 3
TARGET_MARGIN = 0.2


@dataclass
class Suggestion:
    decision: str  # one of kpiengine.spec.lifecycle.DECISIONS
    reason: str
    drives: str | None = None  # the steering KPI whose wrong-way change it explains most of (rule 3)

    def to_dict(self) -> dict:
        return {"decision": self.decision, "reason": self.reason, "drives": self.drives}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def suggest(kr, attributions: dict[str, Any], directions: dict[str, str], steering: set[str]) -> Suggestion:
    """The decision the evidence of one :class:`~kpiengine.analysis.review.KpiReview` points to."""
    if all(v is None for v in kr.values):
        return Suggestion("adjust", "no value in the window: check its model and data before judging it")
    direct = [s for s in kr.drivers if s.direct and s.weight is not None and s.outcome in steering]
    best = max(direct, key=lambda s: s.weight, default=None)
    leads = [x for x in kr.lead_lag if x.significant]
    fair = best is not None and best.weight >= 1.0 / best.inputs
    if kr.status == "proposed":
        if fair or leads:
            return Suggestion("activate", "proven in execution: " + _evidence(best, leads))
        return Suggestion("keep", "still proposed: it has not yet shown that it moves an outcome")
    miss = _explained_miss(kr, direct, attributions, directions)
    if miss is not None:
        share, outcome = miss
        verb = "keep" if kr.status == "strengthened" else "strengthen"
        change = attributions[outcome.outcome].change
        reason = (f"fell short itself and accounts for {_pct(share)} of the change of {outcome.outcome} over "
                  f"the window ({_fmt_change(change)}")
        reason += "; the other inputs offset part of it)" if share > 1 else ")"
        if verb == "keep":
            reason += "; already strengthened"
        return Suggestion(verb, reason, drives=outcome.outcome)
    if kr.status == "weakened" and fair:
        return Suggestion("activate", f"weakened, but moves {_pct(best.weight)} of {best.outcome} again "
                                      f"(fair share {_pct(1 / best.inputs)})")
    if direct and all(s.weight < 1.0 / s.inputs and abs(s.share or 0.0) < 0.5 / s.inputs for s in direct) \
            and not leads:
        worst = max(direct, key=lambda s: s.weight)
        why = (f"moves only {_pct(worst.weight)} of {worst.outcome}'s movement (fair share "
               f"{_pct(1 / worst.inputs)}) and nets {_pct(worst.share)} of its change" + _no_lead(kr))
        if kr.status == "weakened":
            return Suggestion("retire", f"weakened{' since ' + str(kr.since) if kr.since else ''} and still "
                                        f"explains little: {why}")
        return Suggestion("weaken", why)
    alerts = kr.alerts
    if alerts is not None and alerts.fired >= NOISY_FIRED and alerts.silenced * 2 >= alerts.fired \
            and not alerts.acted_on:
        return Suggestion("adjust", f"its rules fired {alerts.fired} times, {alerts.silenced} silenced and none "
                                    f"acted on: loosen the thresholds or weaken it")
    complete = [a for a in kr.attainment if not a.partial and a.attainment is not None]
    if complete and all(a.attainment >= 1 + TARGET_MARGIN for a in complete):
        return Suggestion("adjust", f"met every target by {_pct(min(a.attainment for a in complete) - 1)} or "
                                    f"more: raise the target")
    if complete and all(a.attainment < 1 - TARGET_MARGIN for a in complete):
        return Suggestion("adjust", f"missed every target, reaching at best {_pct(max(a.attainment for a in complete))}"
                                    f": the target is out of reach, or its playbook does not work")
    return Suggestion("keep", _keep_reason(kr, best, leads, complete))


def _explained_miss(kr, direct, attributions, directions):
    """(share, Share) of the steering KPI above it whose wrong-way change it explains most of, if any."""
    own = kr.trend.change
    if own is None or own == 0 or (own > 0) == (kr.direction == "higher"):
        return None  # it did not move the wrong way itself
    found = None
    for s in direct:
        if s.share is None:
            continue
        a = attributions.get(s.outcome)
        if a is None or not a.pairs:
            continue
        start = a.start_value
        moved = a.change / abs(start) if start else None
        wrong = (a.change < 0) if directions.get(s.outcome, "higher") == "higher" else (a.change > 0)
        if moved is not None and abs(moved) >= MIN_MOVE and wrong and s.share >= STRONG_SHARE:
            if found is None or s.share > found[0]:
                found = (s.share, s)
    return found


def _fmt_change(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.4g}"


def _evidence(best, leads) -> str:
    parts = []
    if best is not None:
        parts.append(f"moves {_pct(best.weight)} of {best.outcome}")
    for x in leads[:1]:
        parts.append(f"its changes lead {x.outcome} by {x.lag} period(s) (r = {x.r:.2f})" if x.lag else
                     f"its changes move with {x.outcome} (r = {x.r:.2f})")
    return "; ".join(parts)


def _no_lead(kr) -> str:
    if not kr.lead_lag:
        return ""
    strongest = max(kr.lead_lag, key=lambda x: abs(x.r))
    return f"; its moves do not lead {strongest.outcome} (best r = {strongest.r:.2f}, p = {strongest.p:.2f})"


def _keep_reason(kr, best, leads, complete) -> str:
    parts = []
    if complete:
        hit = sum(bool(a.met) for a in complete)
        parts.append(f"met {hit} of {len(complete)} target period(s)")
    if best is not None:
        parts.append(f"moves {_pct(best.weight)} of {best.outcome}")
    if leads:
        parts.append(_evidence(None, leads))
    return "; ".join(parts) or "no evidence for a change"
