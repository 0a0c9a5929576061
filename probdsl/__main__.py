"""`python -m probdsl` runs the CLI."""

from probdsl.cli import main

main()
