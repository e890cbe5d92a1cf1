"""Composition root: command line, settings, main window and the controllers that turn widget
intents into service calls. The only package that knows both Qt and the services."""
