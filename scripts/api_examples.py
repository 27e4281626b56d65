"""Writes search_app/api_examples.json: the OpenAPI document's examples, as this app answers them on an
index of the real corpus (so an example is never invented). Run after a change to the answers' shape:

    .venv/bin/python scripts/api_examples.py --index var/index
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from search_app import create_app

OUT = Path(__file__).resolve().parent.parent / "search_app" / "api_examples.json"
SEARCH = "q=Staying+Put&council=croydon"
BODY_CHARS = 1200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True, help="an index built from corpus/")
    args = parser.parse_args()
    client = create_app({"INDEX_DIR": args.index}).test_client()
    search = client.get(f"/api/search?{SEARCH}&per_page=1&semantic=0").get_json()
    item = client.get(f"/api/items/{search['results'][0]['id']}").get_json()
    if len(item["body"]) > BODY_CHARS:
        item["body"] = item["body"][:BODY_CHARS] + "…"
    examples = {
        "search": search,
        "item": item,
        "error": client.get("/api/search?page=0").get_json(),
        "search_csv": client.get(f"/search.csv?{SEARCH}&semantic=0").get_data(as_text=True),
        "compare_csv": client.get("/compare.csv?q=Staying+Put").get_data(as_text=True),
        "search_atom": client.get(f"/search.atom?{SEARCH}&semantic=0").get_data(as_text=True),
    }
    OUT.write_text(json.dumps(examples, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT} from {args.index}")


if __name__ == "__main__":
    main()
