"""``python -m interank_trainer`` runs the ``interank-train`` CLI."""

from .cli import main

raise SystemExit(main())
