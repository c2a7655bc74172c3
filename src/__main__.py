"""``python -m govflow`` is the ``govflow`` command."""

from .core.cli import run

run()
