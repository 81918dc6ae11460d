"""``python -m kremlinology`` runs the command line."""

from kremlinology.cli import main

main()
