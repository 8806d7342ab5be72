"""Derived columns on re-import (partner_evaluations: total_score from the three scores, rating
from total_score unless someone chose one). The database keeps them with triggers; the import
must not send values the triggers would only overwrite, or re-importing an unchanged file (an
export, or a sheet whose 综合得分 is Excel's unrounded AVERAGE) would rewrite every row, touch
its updated_at and fill the audit log with changes that change nothing."""

from __future__ import annotations

from taizhang.registers import Register
from taizhang.schema import derive_kind


def settle(reg: Register, current: dict, changed: dict) -> dict:
    """`changed` (column -> new value for an existing row) less what the database derives itself."""
    if not reg.derive or not changed:
        return changed
    changed = dict(changed)
    after = {**current, **changed}
    for name, rule in reg.derive.items():
        kind = derive_kind(rule)
        if kind == "weighted" and all(after.get(c) is not None for c in rule["weights"]):
            changed.pop(name, None)   # computed from the scores whatever the file says
        elif kind == "computed":
            changed.pop(name, None)
        elif kind == "default" and name in changed and changed[name] is None:
            changed.pop(name)         # a blank cell would only be filled again with the default
    for name, rule in reg.derive.items():
        if derive_kind(rule) != "banded" or name not in changed or changed[name] is not None:
            continue
        # A blank rating means "follow the score". Already following it: leave it to the trigger.
        if current.get(name) is None or current.get(name) == _band(rule, current.get(rule["from"])):
            changed.pop(name)
        else:   # a chosen rating given back to the score
            changed[name] = _band(rule, _total(reg, rule["from"], current, changed))
    return changed


def _band(rule: dict, score) -> str | None:
    if score is None:
        return None
    for limit, value in rule["thresholds"]:
        if limit is None or score >= limit:
            return value
    return None


def _total(reg: Register, column: str, current: dict, changed: dict):
    """The score a rating follows, as the row will hold it after this update."""
    rule = reg.derive.get(column) or {}
    weights = rule.get("weights")
    after = {**current, **changed}
    if not weights or not any(c in changed for c in weights) or any(after.get(c) is None for c in weights):
        return after.get(column)
    # Mirrors the trigger's round((Σ w·score) / Σ w, 2).
    return round(sum(w * after[c] for c, w in weights.items()) / sum(weights.values()), 2)
