"""`python -m auditor` runs the `sendready` command line."""

from auditor.cli.app import main

if __name__ == "__main__":
    main()
