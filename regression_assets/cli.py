"""Command line: ``regression-assets <subcommand> ...`` (also ``python -m regression_assets``).

Subcommands are registered in `SUBCOMMANDS`: each entry is ``name -> (add_arguments, handler)`` where
``add_arguments(parser)`` declares its options and ``handler(args) -> int`` runs it and returns the exit
code. To add one (e.g. ``run``), write those two functions and add a line to `SUBCOMMANDS`.

Exit codes: 0 success, 1 internal error, 2 bad input or usage (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from regression_assets.operations.cli import (
    add_alerts_arguments,
    add_triage_arguments,
    run_alerts,
    run_triage,
)
from regression_assets.run_command import add_run_arguments, run_run

PROG = "regression-assets"

# ------------------------------------------------------------------------------------------- detect


def add_detect_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, metavar="IN.csv",
                   help="CSV with columns series_id,timestamp,value[,lower_is_better]")
    p.add_argument("--output", required=True, metavar="OUT.csv", help="where to write the changes CSV ('-' = stdout)")
    p.add_argument("--method", default="default", metavar="NAME",
                   help="detector: default (the project's) or perfherder (Perfherder's t-test); default: %(default)s")
    p.add_argument("--quiet", action="store_true", help="no progress or summary on stderr (errors still shown)")


def run_detect(args: argparse.Namespace) -> int:
    from regression_assets.detect_io import InputError, detect_file
    from regression_assets.stats.detectors import METHODS

    prog = f"{PROG} detect"
    if args.method not in METHODS:
        print(f"{prog}: error: unknown method {args.method!r}; known: {', '.join(sorted(METHODS))}", file=sys.stderr)
        return 2
    try:
        stats = detect_file(args.input, args.output, args.method,
                            progress_stream=None if not args.quiet else _NullStream())
    except InputError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"{prog}: internal error: {e}", file=sys.stderr)
        return 1
    if stats.skipped:
        examples = ", ".join(repr(s) for s in stats.skipped_ids)
        more = ", ..." if stats.skipped > len(stats.skipped_ids) else ""
        print(f"{prog}: skipped {stats.skipped} series with fewer than {stats.min_points} points ({examples}{more})",
              file=sys.stderr)
    if not args.quiet:
        rate = stats.rows / stats.seconds if stats.seconds > 0 else float("inf")
        print(f"{prog}: {stats.rows} rows, {stats.series} series, {stats.changes} changes "
              f"in {stats.seconds:.1f}s ({rate:,.0f} points/s)", file=sys.stderr)
    return 0


class _NullStream:
    def write(self, _s: str) -> int:
        return 0

    def flush(self) -> None:
        pass


# ------------------------------------------------------------------------------------------- registry

Handler = Callable[[argparse.Namespace], int]

SUBCOMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Handler, str]] = {
    "detect": (add_detect_arguments, run_detect, "find changes in series from a CSV file"),
    "run": (add_run_arguments, run_run, "backfill the asset graph over the sample and print the alerts"),
    "triage": (add_triage_arguments, run_triage, "set an alert's status (untriaged, acknowledged, invalid, fixed, ...)"),
    "alerts": (add_alerts_arguments, run_alerts, "list alerts from the registry [--status untriaged]"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors on one line (exit 2), like the rest of the CLI."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Find what got worse: perf and crash-rate regressions.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (add_args, handler, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
