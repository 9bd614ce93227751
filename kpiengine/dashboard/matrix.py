"""The product matrix: which product tier carries each funnel stage, and where customers stop moving down.

The brief's product ladder is free -> traffic -> hit -> profit -> brand: a free
offer brings a lead, a traffic product gets the visit, a hit product the
proposal, a profit product the won deal, and the brand keeps and refers the
customer. Each funnel step names its tier (``product:``); this view lists the
tiers in that order with the stage they carry, its volume and its conversion in
the shown and the previous period, and marks the tier whose stage converts worst,
the one that fails to move customers down.
"""
from __future__ import annotations

from .data import funnel_view
from .formatting import change, format_value, tone
from .inputs import DashboardInputs

TIERS = ("free", "traffic", "hit", "profit", "brand")


def matrix_view(inputs: DashboardInputs) -> dict:
    funnels = funnel_view(inputs)
    if funnels.get("empty"):
        return {"empty": True, "reason": funnels["reason"], **({"pending": True} if funnels.get("pending") else {})}
    out = []
    for f in funnels["funnels"]:
        if not any(st.get("tier") for st in f["steps"]) or not f["columns"]:
            continue
        cur = f["columns"][-1]
        prev = f["columns"][0] if len(f["columns"]) > 1 else None
        rows = []
        for tier in TIERS:
            stages = [i for i, st in enumerate(f["steps"]) if st.get("tier") == tier]
            if not stages:
                rows.append({"tier": tier, "stage": None, "note": "no funnel stage is carried by this tier"})
                continue
            for i in stages:
                now = cur["total"][i]
                before = prev["total"][i] if prev else None
                rate_change = change(now["from_previous"], before["from_previous"] if before else None, "percent")
                rows.append({"tier": tier, "stage": now["id"], "stage_label": now["label"], "step": i,
                             "entities": now["entities"], "display": now["display"],
                             "from_previous": now["from_previous"], "from_previous_display":
                             now["from_previous_display"] if i else "entry",
                             "previous_display": before["from_previous_display"] if before and i else "—",
                             "drop_off": now["drop_off"], "drop_off_display": format_value(now["drop_off"], "count"),
                             "change": rate_change if i else {"abs": None, "rel": None, "text": "—"},
                             "tone": tone(rate_change, "higher", "percent") if i and not cur["maturing"] else "flat"})
        measured = [r for r in rows if r.get("stage") and r["step"] and r["from_previous"] is not None]
        # a maturing cohort's later stages are still filling: its "weakest tier" is only the youngest stage
        weakest = min(measured, key=lambda r: r["from_previous"]) if measured and not cur["maturing"] else None
        for r in rows:
            r["weakest"] = r is weakest
        out.append({"funnel": f["name"], "label": f["label"], "period": cur["period"], "period_label": cur["label"],
                    "previous_label": prev["label"] if prev else None, "maturing": cur["maturing"],
                    "view": f["view"], "attribution": f["attribution"], "rows": rows,
                    "weakest_tier": weakest["tier"] if weakest else None,
                    "summary": (f"The {weakest['tier']} tier moves the fewest customers down: "
                                f"{weakest['from_previous_display']} of {f['steps'][weakest['step'] - 1]['label']} "
                                f"reach {weakest['stage_label']} ({cur['label']}).") if weakest else
                    (f"The {cur['label']} cohort is still maturing: its later stages can still grow within "
                     f"{f['window_display']}, so no tier is named yet. Count by event for the week's final "
                     "numbers.") if cur["maturing"] else None})
    if not out:
        return {"empty": True, "reason": "no funnel step names its product tier (`product:` free, traffic, hit, "
                                         "profit or brand); see docs/funnels.md"}
    return {"funnels": out}
