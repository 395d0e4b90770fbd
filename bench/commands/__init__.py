"""One argparse subcommand per module: each has `add_parser(subparsers)`, whose parser sets `func(args) -> exit code`."""
