"""Modal dialogs. They validate what the user typed and return values; they decide nothing."""

from .errors import error_box, show_error
from .live_confirm import LiveConfirmDialog
from .order_details import OrderDetailsDialog
from .replace import ReplaceDialog
from .settings import SettingsDialog

__all__ = [
    "LiveConfirmDialog",
    "OrderDetailsDialog",
    "ReplaceDialog",
    "SettingsDialog",
    "error_box",
    "show_error",
]
