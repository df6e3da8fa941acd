"""`syncd` and `python -m syncd`: the CLI, loaded with the collector paused (see syncd.cli.startup)."""

from syncd.cli.startup import loading


def main() -> None:
    with loading():
        from syncd.cli.app import main as cli_main
    cli_main()


if __name__ == "__main__":
    main()
