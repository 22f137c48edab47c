"""`python -m rupturekit.cli`."""

from rupturekit.cli import main

main()
