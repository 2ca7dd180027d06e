"""What a run of the properties does with what it meets: the gate writes nothing, a writing run keeps each new
bug pending and records it (roundtrip.search.harness explores, roundtrip.search.recorder records)."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

REDUCE_SECONDS = 150.0  # the reducer's budget per bug


class PlanError(ValueError):
    """$ROUNDTRIP_RUN is not a plan: the message names the field."""


@dataclass(frozen=True)
class Plan:
    """What a run does with what it meets (see the module's docstring)."""

    writes: bool = False  # False: the gate; True: pending list, entries
    record: bool | int = True  # (writes) record the pending bugs of each property after exploring it: all,
    # none, or at most this many (the oldest first)
    explore: float = 0.0  # seconds of exploring per property; 0: until Hypothesis' examples end
    share: int = 0  # new bugs that end a property's exploring; 0: no limit
    deadline: float = 0.0  # epoch seconds: past it nothing new starts (exploring, or recording a bug); 0: none
    reduce: float = REDUCE_SECONDS  # the reducer's budget per bug, in seconds
    only_record: bool = False  # (writes) explore nothing: record the property's pending bugs (a campaign
    # whose pending bugs would fill its time left)

    @staticmethod
    def from_env() -> Plan:
        """$ROUNDTRIP_RUN (a JSON object of these fields, set by a campaign), else ROUNDTRIP_RECORD=1 (a
        writing run), else the gate."""
        text = os.environ.get("ROUNDTRIP_RUN", "")
        if not text:
            return Plan(writes=os.environ.get("ROUNDTRIP_RECORD", "") == "1")
        try:
            data = json.loads(text)
        except ValueError as e:
            raise PlanError(f"$ROUNDTRIP_RUN: not JSON ({e})") from None
        names = {f.name: f.type for f in dataclasses.fields(Plan)}
        if not isinstance(data, dict):
            raise PlanError("$ROUNDTRIP_RUN: not a JSON object")
        for key, value in data.items():
            if key not in names:
                raise PlanError(f"$ROUNDTRIP_RUN: no field {key!r} (fields: {', '.join(names)})")
            kind = names[key]
            number = isinstance(value, int | float) and not isinstance(value, bool)
            fits = (isinstance(value, bool) if kind == "bool" else
                    number and isinstance(value, int) if kind == "int" else
                    isinstance(value, bool) or (number and isinstance(value, int) and value >= 0)
                    if kind == "bool | int" else number)
            if not fits:
                raise PlanError(f"$ROUNDTRIP_RUN: field {key!r} is {value!r}, wants {names[key]}")
        return Plan(**data)
