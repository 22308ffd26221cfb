"""``python -m losskit``: the same as the ``losskit`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
