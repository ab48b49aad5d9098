"""``python -m bwserial``: the same command as the ``bwserial`` console script."""

from bwserial.cli import main

if __name__ == "__main__":
    main(prog_name="bwserial")
