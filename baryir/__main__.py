"""``python -m baryir`` runs the command-line interface."""

from baryir.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
