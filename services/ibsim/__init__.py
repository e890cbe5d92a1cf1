"""IB Gateway simulator speaking the TWS socket protocol (issue 4).

    from services.ibsim import IBGatewaySimulator, SimConfig
    sim = IBGatewaySimulator(SimConfig(seed=1))
    await sim.start(host="127.0.0.1", port=0)
"""

from services.ibsim.config import DEFAULT_ACCOUNT, Faults, FaultRule, OrderFaults, SimConfig, parse_fault_rule
from services.ibsim.model import Instrument, SimExecution, SimOrder, SimPosition, load_universe
from services.ibsim.server import AccountSnapshot, IBGatewaySimulator
from services.ibsim.thread import SimulatorThread

__all__ = [
    "DEFAULT_ACCOUNT",
    "AccountSnapshot",
    "FaultRule",
    "Faults",
    "IBGatewaySimulator",
    "Instrument",
    "OrderFaults",
    "SimConfig",
    "SimExecution",
    "SimOrder",
    "SimPosition",
    "SimulatorThread",
    "load_universe",
    "parse_fault_rule",
]
