"""The ``hake`` command line.

Exit codes: 0 ok, 1 failed (bad data, a store error), 2 usage (bad arguments). Errors the
user can fix print one line (``hake: error: ...``) with what to do, never a traceback.

Examples::

    hake --version
    hake ontology stats
    hake ontology stats --json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    import ontology

    try:
        dist = version("hake-engine")
    except PackageNotFoundError:  # running from a source tree that was not pip-installed
        dist = ontology.__version__
    return f"hake {dist} (ontology {ontology.load().version})"


def _cmd_ontology_stats(args: argparse.Namespace) -> int:
    import ontology

    stats = ontology.load().stats()
    if args.json:
        print(json.dumps(stats))
        return EXIT_OK
    rows = [
        ("ontology version", stats["version"]),
        ("body parts", f"{stats['body_parts_fine']} fine, {stats['body_parts_coarse']} coarse"),
        ("part states", f"{stats['part_states']} ({stats['part_states_hico']} in the HICO set)"),
        ("verbs", f"{stats['verbs']} ({stats['verbs_hico']} HICO)"),
        ("objects", str(stats["objects"])),
        ("activities", str(stats["activities"])),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hake",
        description="The activity knowledge engine (HAKE): ontology, graph, perception, reasoning.",
        epilog="Example: hake ontology stats --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    onto = commands.add_parser(
        "ontology",
        help="inspect the activity ontology",
        description="Inspect the packaged HAKE activity ontology.",
        epilog="Example: hake ontology stats --json",
    )
    onto_commands = onto.add_subparsers(dest="ontology_command", metavar="SUBCOMMAND")
    stats = onto_commands.add_parser(
        "stats",
        help="count the terms of each kind",
        description="Count body parts, part states, verbs, objects and activities.",
        epilog="Example: hake ontology stats --json",
    )
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(handler=_cmd_ontology_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hake`` console script; returns the exit code."""
    from ontology.errors import HakeError

    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 on usage errors
    if args.version:
        print(_version())
        return EXIT_OK
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code: int = handler(args)
    except HakeError as err:
        print(f"hake: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
