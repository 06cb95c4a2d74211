"""Transcode every video in a folder to 360p with pop's library API (what `pop batch` does).

    python examples/batch.py FOLDER [--glob '*.mp4'] [--concurrency 2]

Each file becomes one agenda of examples/templates/transcode-360p.json (its payload is
{"input": PATH, "name": STEM}), all linked under one link id; at most --concurrency run at once
within one CPU budget. Running it again skips the files whose agenda already succeeded and
resumes the ones that failed. Exit 0 when every file succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pop

TEMPLATE = Path(__file__).resolve().parent / "templates" / "transcode-360p.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--glob", default="*.mp4")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    def show(report: pop.BatchReport) -> None:
        done = sum(1 for item in report.items if item.finished)
        eta = report.eta_seconds()
        left = f", about {eta:.0f}s left" if eta else ""
        print(f"\r{done}/{len(report.items)} files done{left}   ", end="", file=sys.stderr)

    client = pop.Client()
    try:
        report = client.batch(
            TEMPLATE, [args.folder], glob=args.glob, concurrency=args.concurrency, on_change=show
        )
    except pop.PopError as exc:
        print(f"\nerror: {exc.message}", file=sys.stderr)
        return exc.exit_code
    finally:
        client.close()
    print(file=sys.stderr)
    for item in report.items:
        outputs = ""
        if item.state == "succeeded" and item.agenda_id:
            result = client.status(item.agenda_id).operation("transcode")
            renditions = (result.result_payload or {}).get("renditions", []) if result else []
            outputs = " ".join(rendition["path"] for rendition in renditions)
        print(f"{item.state:<9} {item.input} {outputs or item.message or ''}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
