"""The `sendready` command line: a thin typer layer over the library."""
