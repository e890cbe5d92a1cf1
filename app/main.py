"""Composition root of the window: builds the services, the main window and the controllers,
runs the one qasync loop, and shuts everything down in order."""

from __future__ import annotations

import argparse
import sys


def run_console(args: argparse.Namespace, settings) -> int:
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = QMainWindow()
    window.setWindowTitle(f"IB Trading Console [{settings.profile.upper()}]")
    window.setCentralWidget(QLabel(f"Database: {settings.redacted_db_url}"))
    window.resize(1200, 800)
    window.show()
    return app.exec()
