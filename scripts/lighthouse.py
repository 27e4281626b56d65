"""Runs Lighthouse (npm, pinned in the Makefile) with Debian's Chromium against the main pages of a server
started here on an index, and prints each page's scores. `make lighthouse` installs what it needs and runs it.

    .venv/bin/python scripts/lighthouse.py --index var/index --lighthouse .lighthouse/node_modules/.bin/lighthouse
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from werkzeug.serving import make_server

from search_app import create_app

PAGES = ["/", "/?q=Staying+Put", "/compare?q=care+leavers", "/api"]
CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]


def audit(lighthouse: str, url: str) -> dict[str, int]:
    """Returns Lighthouse's score (0-100) in each category for one page."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [
                lighthouse, url, "--quiet", "--output=json", f"--output-path={report}",
                f"--only-categories={','.join(CATEGORIES)}", "--chrome-path=/usr/bin/chromium",
                "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
            ],
            check=True,
        )  # fmt: skip
        result = json.loads(report.read_text())
    return {name: round(100 * result["categories"][name]["score"]) for name in CATEGORIES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default="var/index")
    parser.add_argument("--corpus", default="corpus")
    parser.add_argument("--lighthouse", default=".lighthouse/node_modules/.bin/lighthouse")
    args = parser.parse_args()
    app = create_app({"INDEX_DIR": args.index, "CORPUS_DIR": args.corpus})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    print(f"{'page':32} " + " ".join(f"{c:>14}" for c in CATEGORIES))
    worst = 100
    for path in PAGES:
        scores = audit(args.lighthouse, base + path)
        worst = min(worst, scores["best-practices"], scores["seo"])
        print(f"{path:32} " + " ".join(f"{scores[c]:>14}" for c in CATEGORIES), flush=True)
    server.shutdown()
    return 0 if worst == 100 else 1


if __name__ == "__main__":
    sys.exit(main())
