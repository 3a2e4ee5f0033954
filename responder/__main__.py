"""``python -m responder`` is the CLI."""

from .cli import main

main()
