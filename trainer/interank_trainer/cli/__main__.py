"""``python -m interank_trainer.cli`` runs the ``interank-train`` CLI."""

from . import main

raise SystemExit(main())
