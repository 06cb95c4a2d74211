"""``python -m pop``: the same as the ``pop`` command."""

from pop.cli import main

if __name__ == "__main__":
    main()
