"""The private parts of ib_async the adapter (services/execution/ib_provider.py) relies on still
exist and still behave as the adapter assumes. ib_async is pinned to the tested minor version in
pyproject.toml; a new version must pass this test before the pin moves."""

from __future__ import annotations

from importlib.metadata import version

from ib_async import IB

from services.execution.ib_provider import IbExecutionProvider
from services.execution.pacing import IB_MAX_MESSAGES_PER_SECOND

HOOKED = ("orderStatus", "openOrder", "execDetails", "commissionReport", "error")


def test_the_installed_version_is_the_pinned_minor():
    assert version("ib_async").split(".")[:2] == ["2", "1"]


def test_wrapper_keeps_the_request_bookkeeping_the_adapter_reads():
    wrapper = IB().wrapper
    # _results / _futures: is a callback the reply to our own request (reqOpenOrders, reqExecutions)?
    assert isinstance(wrapper._results, dict)
    assert isinstance(wrapper._futures, dict)
    # trades keyed by (clientId, orderId): modify the same Order object; acctSummary: asked once
    assert isinstance(wrapper.trades, dict)
    assert isinstance(wrapper.acctSummary, dict)
    # permId2Trade / fills (execId -> Fill): finished trades and their fills are forgotten from them
    assert isinstance(wrapper.permId2Trade, dict)
    assert isinstance(wrapper.fills, dict)
    for name in HOOKED:
        assert callable(getattr(wrapper, name)), name


def test_the_decoder_looks_wrapper_methods_up_at_call_time():
    """The adapter replaces wrapper methods on the instance; the decoder must call the
    replacement, not a method it bound when it was built."""
    ib = IB()
    seen = []
    ib.wrapper.orderStatus = lambda *args: seen.append(args)
    decoder = ib.client.decoder
    assert decoder.wrapper is ib.wrapper
    decoder.interpret(["3", "7", "Submitted", "0", "10", "0", "123", "0", "0", "1", "", "0"])
    assert seen and seen[0][:2] == (7, "Submitted")


def test_the_client_sends_through_a_patchable_send_msg():
    """The pacing counter wraps ``client.sendMsg``; every request must go through it."""
    ib = IB()
    sent = []
    ib.client.sendMsg = sent.append
    ib.client.isConnected = lambda: True  # no socket: only the path through sendMsg matters
    try:
        ib.client.send(71, 2, 1, "")
    finally:
        del ib.client.isConnected  # IB.__del__ disconnects: it must see the truth
    assert len(sent) == 1
    assert ib.client.MaxRequests == IB_MAX_MESSAGES_PER_SECOND


def test_the_adapter_installs_its_hooks_on_the_wrapper_instance():
    provider = IbExecutionProvider(ib=IB())
    for name in HOOKED:
        assert getattr(provider.ib.wrapper, name).__name__ == "hooked", name
    assert provider.ib.client.sendMsg.__name__ == "counted"
    assert provider.ib.RequestTimeout == provider.request_timeout


async def test_end_req_forgets_a_request_and_ends_its_future():
    # async: the request's future belongs to the running loop, as in the adapter
    """A historical request dropped by error 100 is forgotten with ``wrapper._endReq`` before it is
    asked again (services/execution/ib_queries.py): its future must end and its id be gone, so a
    late answer to it finds nothing to fill."""
    wrapper = IB().wrapper
    future = wrapper.startReq(7)
    wrapper._endReq(7)
    assert future.done() and 7 not in wrapper._futures and 7 not in wrapper._results


def test_the_adapter_switches_off_ib_asyncs_account_summary_resubscription():
    """``IB._onError`` subscribes to the account summary again on 1102 and keeps the old one (IB
    allows two, error 322 beyond); the adapter takes it off ``errorEvent`` and renews its own
    (services/execution/ib_queries.py). Should ib_async rename it, the removal would fail here."""
    import inspect

    ib = IB()
    assert ib._onError in ib.errorEvent and "1102" in inspect.getsource(IB._onError)
    IbExecutionProvider(ib=ib)
    assert ib._onError not in ib.errorEvent
    # what _request_account_summary asks for is what ib_async's reqAccountSummaryAsync asked for
    from services.execution.ib_queries import ACCOUNT_SUMMARY_TAGS
    assert ACCOUNT_SUMMARY_TAGS.split(",") == _ib_async_summary_tags()


def _ib_async_summary_tags() -> list[str]:
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(IB.reqAccountSummaryAsync)))
    texts = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return max(texts, key=len).split(",")
