"""The settings dialog and the theme. What a saved dialog changes is computed by
services.console_settings; this shows the dialog, saves the file and applies the theme."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from PySide6.QtCore import Qt

from app.controllers.audit import AuditController
from app.controllers.context import ConsoleContext
from services import console_settings
from widgets.dialogs.settings import SettingsDialog


class SettingsController:
    def __init__(self, ctx: ConsoleContext, audit: AuditController, settings, *,
                 save_settings: Callable | None, on_trade_settings: Callable[[dict], None]) -> None:
        self.ctx = ctx
        self.audit = audit
        self.settings = settings
        self.save_settings = save_settings  # None: nothing is written to the settings file (tests)
        self._on_trade_settings = on_trade_settings  # the trade settings now in force
        self.dialog: SettingsDialog | None = None
        ctx.window.settings_requested.connect(self._on_settings_requested)
        ctx.window.theme_requested.connect(self._on_theme_requested)

    def _on_theme_requested(self, name: str) -> None:
        self.ctx.window.apply_theme(name)
        if self.save_settings is not None:
            self.settings = console_settings.with_theme(self.settings, name)
            self.ctx.runner.run(self.save(), what="Save settings")

    async def save(self) -> None:
        """The settings file written with the settings now (off the GUI thread); what it wrote is
        the baseline of the next save (``console_settings.as_saved``)."""
        if self.save_settings is None:
            return
        written = self.settings
        await asyncio.to_thread(self.save_settings, written)
        self.settings = console_settings.as_saved(self.settings, written)

    def _on_settings_requested(self) -> None:
        self.ctx.runner.run(self.open(), what="Settings")

    async def open(self) -> SettingsDialog:
        trade_values = await self.ctx.db(self.ctx.stack.trade_settings.read)
        stack = self.ctx.stack
        session = console_settings.session_connection(stack.data_source, *stack.endpoint, demo=stack.profile == "demo")
        dialog = SettingsDialog(console_settings.dialog_values(self.settings, trade_values, session), self.ctx.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.settings_submitted.connect(lambda data: self.ctx.runner.run(self.apply(data), what="Save settings"))
        dialog.open()  # window-modal without a nested event loop inside this task
        self.dialog = dialog
        return dialog

    async def apply(self, data: dict) -> None:
        """Connection, database and theme go to the settings file (used at the next start);
        risk defaults and auto-recovery to the database, where the services read them."""
        change = console_settings.change_from_dialog(self.settings, data)
        stack = self.ctx.stack
        # the database half first: the services check every value and store all or nothing, so a
        # value they refuse leaves the settings file and the theme as they were too
        values = await self.ctx.db(console_settings.store_in_database, stack.trade_settings, stack.audit,
                                   stack.trade.actor, change)
        self._on_trade_settings(values)
        if change.theme is not None:
            self.ctx.window.apply_theme(change.theme)
        self.settings = change.settings
        await self.save()
        self.ctx.status("Settings saved (connection and database changes apply at the next start)")
        await self.audit.refresh()
