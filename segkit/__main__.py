"""``python -m segkit``: the same as the ``segkit`` command."""

from segkit.cli import run

run()
