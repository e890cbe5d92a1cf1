"""The window's controller, one module per concern; ``app.controller.ConsoleController`` is the
coordinator the window, the screenshot flow and the tests use.

Each part translates the window's intents into calls of services/ and shows their results; the
decisions (risk, live word, which orders are stuck, what a chart shows) are made in services/.
"""
