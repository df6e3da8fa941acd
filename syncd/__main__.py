"""`syncd` and `python -m syncd`: the CLI, loaded with the collector paused (see syncd.startup)."""

from syncd.startup import loading


def main() -> None:
    with loading():
        from syncd.cli import main as cli_main
    cli_main()


if __name__ == "__main__":
    main()
