"""``python -m watchkeeper``: the same command as ``watchkeeper``."""

from watchkeeper.cli import main

main()
