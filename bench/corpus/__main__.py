"""`python -m bench.corpus [--cases DIR]`: pass rates of each runtime on the corpus."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.corpus import measure


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=Path, default=None, help="a directory of .py cases")
    parser.add_argument("--failures", action="store_true", help="list what each runtime failed")
    args = parser.parse_args()
    print(measure(args.cases, show_failures=args.failures))


if __name__ == "__main__":
    main()
