"""``python -m maaskit``: the same as the ``maaskit`` command."""

from maaskit.cli import main

main()
