"""Gateway-level faults: the gateway losing IB's servers, a data farm breaking, the nightly reset.

What a real TWS / IB Gateway does, and what the simulator copies (docs/simulator.md, "Gateway
faults"; the message texts are IB's, as real gateways log them):

* **Connectivity lost** (``connectivity_lost()``): error 1100 to every client. Orders keep
  working at the exchange (IB: "existing orders will operate normally, although execution reports
  ... will be delayed"), so the books and the ledger move on, but nothing IB would push reaches
  a client: order statuses, executions, commission reports, account, P&L and market data pushes
  are held per session. The answers to a client's own queries still come (TWS answers them), and
  from the current books. An order placed or cancelled in the gap is worked, its messages held.
* **Restored** (``connectivity_restored(data_lost=...)``): 1102 "data maintained" delivers the
  held messages in their order; 1101 "data lost" discards them and ends the session's streaming
  market data: the client has to subscribe again and ask (executions, open and completed orders,
  positions) to learn what happened in the gap.
* **A data farm broken and back** (``farm_broken(farm)`` / ``farm_restored(farm)``): 2103/2104
  for a market data farm (usfarm), 2105/2106 for an HMDS farm (…hmds), 2157/2158 for a sec-def
  farm (secdef…). While a market data farm is broken no streaming ticks are sent.
* **Nightly reset** (``nightly_reset(seconds)``): every client is dropped and the listener closed
  (new connections are refused) for ``seconds``, then it listens on the same port again. The
  books survive; a lost connectivity or broken farm does not (the gateway comes back clean).

A client connecting while connectivity is lost gets 1100 (and its pushes are held); one
connecting while a farm is broken gets that farm's "broken" notice.
"""

from __future__ import annotations

import asyncio
import logging

from services.ibsim.base import SimulatorBase
from services.ibsim.fault_schedule import ScheduledFault
from services.ibsim.transport import Session

log = logging.getLogger("services.ibsim")

CONNECTIVITY_LOST = (1100, "Connectivity between IB and Trader Workstation has been lost.")
RESTORED_DATA_LOST = (1101, "Connectivity between IB and Trader Workstation has been restored - data lost.")
RESTORED_DATA_MAINTAINED = (1102, "Connectivity between IB and Trader Workstation has been restored - data maintained.")

# farm kind -> (broken code, OK code, broken text, OK text); the farm's name ends the text
FARM_MESSAGES = {
    "market": (2103, 2104, "Market data farm connection is broken:", "Market data farm connection is OK:"),
    "hmds": (2105, 2106, "HMDS data farm connection is broken:", "HMDS data farm connection is OK:"),
    "secdef": (2157, 2158, "Sec-def data farm connection is broken:", "Sec-def data farm connection is OK:"),
}


def farm_kind(farm: str) -> str:
    """IB's farm names say what they serve: usfarm, eufarm (market data), ushmds, euhmds (HMDS,
    historical data), secdefnj, secdefil (sec-def, contract details)."""
    name = farm.lower()
    if "hmds" in name:
        return "hmds"
    if name.startswith("secdef"):
        return "secdef"
    return "market"


class GatewayFaultsMixin(SimulatorBase):
    """The gateway's connection to IB's servers, its data farms and its nightly reset."""

    @property
    def connectivity_is_lost(self) -> bool:
        return self._connectivity_lost

    def broken_farms(self) -> set[str]:
        return set(self._broken_farms)

    @property
    def is_resetting(self) -> bool:
        """Inside a nightly reset: no clients, connections refused."""
        return self._reset_task is not None and not self._reset_task.done()

    # ----------------------------------------------------------------- connectivity 1100 / 1101 / 1102

    def connectivity_lost(self) -> None:
        """1100 to every client; from now on their pushes are held (module docstring)."""
        self._connectivity_lost = True
        log.info("fault: connectivity between IB and the gateway lost (1100)")
        for session in self._live_sessions():
            _notice(session, *CONNECTIVITY_LOST)  # IB repeats it while lost; the held pushes stay
            if session.held is None:
                session.held = []

    def connectivity_restored(self, data_lost: bool = False) -> None:
        """1101 (``data_lost``: held pushes dropped, streaming market data ended) or 1102 (held
        pushes delivered in their order)."""
        if not self._connectivity_lost:
            log.warning("fault: connectivity restored while it was not lost: nothing sent")
            return
        self._connectivity_lost = False
        code, text = RESTORED_DATA_LOST if data_lost else RESTORED_DATA_MAINTAINED
        log.info("fault: connectivity restored (%d)", code)
        for session in self._live_sessions():
            held, session.held = session.held or [], None
            session.error(-1, code, text)
            if data_lost:
                session.market_data.clear()
                session.frozen.clear()
                log.debug("client %s: %d held messages dropped", session.client_id, len(held))
            else:
                for fields in held:
                    session.send(fields)

    def _hold_if_lost(self, session: Session) -> None:
        """A client that connects during the gap hears 1100 and is held like the others."""
        if self._connectivity_lost:
            _notice(session, *CONNECTIVITY_LOST)
            session.held = []
        for farm in sorted(self._broken_farms):
            broken_code, _, broken_text, _ = FARM_MESSAGES[farm_kind(farm)]
            _notice(session, broken_code, broken_text + farm)

    # ----------------------------------------------------------------- data farms 2103-2106, 2157/2158

    def farm_broken(self, farm: str = "usfarm") -> None:
        code, _, text, _ = FARM_MESSAGES[farm_kind(farm)]
        self._broken_farms.add(farm)
        log.info("fault: data farm %s broken (%d)", farm, code)
        self._notify_all(code, text + farm)

    def farm_restored(self, farm: str = "usfarm") -> None:
        _, code, _, text = FARM_MESSAGES[farm_kind(farm)]
        self._broken_farms.discard(farm)
        log.info("fault: data farm %s OK again (%d)", farm, code)
        self._notify_all(code, text + farm)

    def _market_data_farm_broken(self) -> bool:
        return any(farm_kind(farm) == "market" for farm in self._broken_farms)

    def _notify_all(self, code: int, text: str) -> None:
        for session in self._live_sessions():
            _notice(session, code, text)

    def _live_sessions(self) -> list[Session]:
        return [s for s in self._sessions.values() if not s.closed]

    # ----------------------------------------------------------------- nightly reset

    def nightly_reset(self, seconds: float) -> asyncio.Task:
        """Drop every client and refuse connections for ``seconds``; the returned task ends when
        the simulator listens again (on the same port)."""
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        if self.is_resetting:
            raise RuntimeError("a nightly reset is already under way")
        log.info("fault: nightly reset: clients dropped, connections refused for %g s", seconds)
        self._server.close()  # the listening socket closes now: connecting is refused
        self.drop_connections()
        self._connectivity_lost = False  # the gateway comes back with a fresh connection to IB
        self._broken_farms.clear()
        self._reset_task = self._spawn(self._listen_again_after(seconds))
        return self._reset_task

    async def _listen_again_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # the reset's length, on the simulator's clock
        self._server = await asyncio.start_server(self._on_connection, self.host, self.port)
        log.info("nightly reset over: listening on %s:%d again", self.host, self.port)

    # ----------------------------------------------------------------- the timetable (--fault at=...)

    def _start_fault_schedule(self) -> None:
        for fault in self.faults.schedule:
            self._spawn(self._run_scheduled(fault))

    async def _run_scheduled(self, fault: ScheduledFault) -> None:
        await asyncio.sleep(fault.at)  # the timetable's clock: the CLI asked for these moments
        while True:
            if fault.kind == "nightly_reset":
                await self.nightly_reset(fault.duration)
            elif fault.kind == "connectivity_lost":
                self.connectivity_lost()
                await asyncio.sleep(fault.duration)
                self.connectivity_restored(data_lost=fault.data_lost)
            else:
                self.farm_broken(fault.farm)
                await asyncio.sleep(fault.duration)
                self.farm_restored(fault.farm)
            if fault.every is None:
                return
            await asyncio.sleep(fault.every - fault.duration)


def _notice(session: Session, code: int, text: str) -> None:
    """A notice of the gateway itself (1100, farm status): sent at once, even while the session's
    pushes are held."""
    held, session.held = session.held, None
    try:
        session.error(-1, code, text)
    finally:
        session.held = held
