"""``cancel-all --json`` (and ``halt --cancel-all --json``, which prints the same outcome) lists by
account the order ids it canceled or asked the broker to cancel (``accounts``), as its audit entry
``order.cancel_all`` does. The JSON had the connected account's ids alone (``canceled``): what a
global cancel did to the login's other accounts was only in the words of ``other_accounts``, and a
script had to read the audit log for the ids."""

from __future__ import annotations

import pytest

from services.audit_actions import AuditAction

from .cli_helpers import cli_args, run
from .stop_helpers import audits
from .test_cancel_all_audit_by_account import _ids
from .test_cancel_all_other_accounts import OTHER, _orders_of_two_accounts, _resting_order_of, _two_accounts

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]  # a `python -m app` subprocess that connects


@pytest.mark.parametrize("command", [("cancel-all",), ("cancel-all", "--one-by-one"), ("halt", "--cancel-all")],
                         ids=["global", "one-by-one", "halt"])
async def test_cancel_all_json_lists_by_account_the_orders_it_canceled(database, db_url, make_simulator, command):
    mine, theirs = await _two_accounts(database, make_simulator)
    try:
        connected = mine.provider.account
        working = await _resting_order_of(theirs)  # the other account's, at the broker
        own, others = _orders_of_two_accounts(database, connected)  # unsent: one here, two of the other account
    finally:
        await mine.close()
        await theirs.close()
    done = await run(cli_args(db_url, mine.sim.port, *command, "--json", "--account", connected, client_id=3))
    assert done.code == 0, done.err
    said = done.json["accounts"]
    [entry] = audits(database, AuditAction.ORDER_CANCEL_ALL)
    assert said == entry["accounts"]  # the same record
    by_account = {account: sorted(ids) for account, ids in said.items()}
    if command == ("cancel-all", "--one-by-one"):
        assert by_account == {connected: _ids(database, own)}  # the other account's orders left, as said
    elif command == ("cancel-all",):
        assert by_account == {connected: _ids(database, own), OTHER: _ids(database, [working, *others])}
    else:  # the halt canceled the runs' unsent orders before its Cancel All: the other account's working one left
        assert by_account == {connected: [], OTHER: _ids(database, [working])}
