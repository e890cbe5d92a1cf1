"""Gateway-level faults on a timetable: what ``trading-console sim --fault 'at=...:...'`` asks for.

A per-order rule (config.py) selects orders; a scheduled fault selects a moment instead:

    at=30:connectivity_lost=10              1100 at 30 s, 1102 (data maintained) 10 s later
    at=30:connectivity_lost=10,data_lost    ... restored with 1101 (data lost) instead
    at=5;every=600:farm_broken=3            2103/2104 for usfarm at 5 s, then every 10 minutes
    at=5:farm_broken=3,farm=ushmds          2105/2106 (an HMDS farm: the name decides the codes)
    at=60:nightly_reset=30                  every client dropped, connections refused for 30 s

Times are seconds after the simulator started listening. The simulator runs them
(gateway_faults.py); this module only describes and parses them, so config.py can hold them.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEDULED_KINDS = ("connectivity_lost", "farm_broken", "nightly_reset")


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    kind: str  # one of SCHEDULED_KINDS
    at: float  # seconds after the start
    duration: float  # how long the fault lasts (the reset: how long connections are refused)
    every: float | None = None  # repeat period in seconds; None: once
    data_lost: bool = False  # connectivity_lost: restored with 1101 instead of 1102
    farm: str = "usfarm"  # farm_broken: the farm's name (…hmds: HMDS, secdef…: sec-def)

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULED_KINDS:
            raise ValueError(f"unknown gateway fault {self.kind!r}; known: {', '.join(SCHEDULED_KINDS)}")
        if self.at < 0 or self.duration < 0:
            raise ValueError("a gateway fault's time and duration cannot be negative")
        if self.every is not None and self.every <= self.duration:
            raise ValueError(f"every={self.every:g} must be longer than the fault ({self.duration:g} s)")


def is_scheduled_fault(text: str) -> bool:
    """A ``--fault`` value whose selector names a time (``at=`` / ``every=``), not orders."""
    selector = text.partition(":")[0]
    return any(part.strip().lower().startswith(("at=", "every=")) for part in selector.split(";"))


def parse_scheduled_fault(text: str) -> ScheduledFault:
    """``at=SECONDS[;every=SECONDS]:KIND=DURATION[,data_lost][,farm=NAME]`` (module docstring)."""
    selector, sep, switches = text.partition(":")
    if not sep:
        raise ValueError(f"gateway fault {text!r} needs at=SECONDS:KIND=DURATION")
    timing: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in selector.split(";"))):
        key, _, value = part.partition("=")
        key = key.strip().lower()
        if key not in ("at", "every"):
            raise ValueError(f"unknown selector {key!r} in gateway fault {text!r} (at, every)")
        timing[key] = _seconds(value, key, text)
    kind: str | None = None
    duration = 0.0
    options: dict = {}
    for switch in filter(None, (s.strip() for s in switches.split(","))):
        name, eq, value = switch.partition("=")
        name = name.strip().lower()
        if name in SCHEDULED_KINDS:
            if kind is not None:
                raise ValueError(f"gateway fault {text!r} names two faults ({kind}, {name}): use one --fault each")
            kind = name
            duration = _seconds(value, name, text) if eq else 0.0
        elif name == "data_lost":
            options["data_lost"] = value.strip().lower() not in ("0", "false", "no", "off") if eq else True
        elif name == "farm" and value.strip():
            options["farm"] = value.strip()
        else:
            raise ValueError(f"unknown switch {name!r} in gateway fault {text!r}; known: "
                             f"{', '.join(SCHEDULED_KINDS)}, data_lost, farm=NAME")
    if kind is None:
        raise ValueError(f"gateway fault {text!r} names no fault; one of {', '.join(SCHEDULED_KINDS)}")
    if "data_lost" in options and kind != "connectivity_lost":
        raise ValueError("data_lost applies to connectivity_lost only")
    if "farm" in options and kind != "farm_broken":
        raise ValueError("farm= applies to farm_broken only")
    return ScheduledFault(kind=kind, at=timing.get("at", 0.0), duration=duration, every=timing.get("every"), **options)


def _seconds(value: str, name: str, text: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} needs a number of seconds in gateway fault {text!r}, not {value!r}") from None
