"""``pue catalog load items.csv``: load an item catalog (Personalize items dataset CSV) into the local store.

The campaign hook, the message sink and the Customer Profiles sink read item details (name, price, URL,
image...) from it on the local backend; in AWS the same fields come from a DynamoDB table (PUE_CATALOG_TABLE).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from consumers.cli.arguments import state_dir as cli_state_dir
from schemas.errors import PermanentError

EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("catalog", help="manage the local item catalog")
    actions = parser.add_subparsers(dest="catalog_action", required=True, metavar="ACTION")
    load = actions.add_parser(
        "load",
        help="upsert the items of a Personalize items dataset CSV (ITEM_ID column) into the local store",
        description="Each row replaces the stored fields of its ITEM_ID. "
        'stdout: {"loaded": N, "state": DIR}.',
    )
    load.add_argument("path", type=Path, metavar="ITEMS_CSV")
    load.add_argument("--state", metavar="DIR", help="state directory (default $PUE_STATE_DIR, else ./.pue)")
    load.set_defaults(handler=load_command)


def load_command(args: argparse.Namespace) -> int:
    from consumers.bootstrap.clients import open_local
    from destinations.local.catalog import load_items_csv

    state_dir = cli_state_dir(args.state)
    if not args.path.is_file():
        sys.stderr.write(f"pue catalog load: {args.path} is not a readable file\n")
        return EXIT_USAGE
    local = open_local(state_dir)
    try:
        loaded = load_items_csv(local.store, args.path)
    except (PermanentError, UnicodeDecodeError) as error:
        sys.stderr.write(f"pue catalog load: {error}\n")
        return EXIT_USAGE
    finally:
        local.close()
    sys.stdout.write(json.dumps({"loaded": loaded, "state": str(state_dir)}) + "\n")
    return 0
