"""``python -m headwater.demo LANDING [--seed N] [--customers N] [--orders N]``: write the
shop's raw files into a folder, e.g. to feed a project of your own."""

from __future__ import annotations

import argparse
from pathlib import Path

from headwater.demo.data import generate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m headwater.demo", description=__doc__)
    parser.add_argument("landing", type=Path, help="folder to write customers/, orders/ and payments/ into")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--orders", type=int, default=4000)
    args = parser.parse_args(argv)
    counts = generate(args.landing, args.seed, args.customers, args.orders)
    for name, rows in counts.items():
        print(f"{name:<10} {rows:>10,} rows")


if __name__ == "__main__":
    main()
