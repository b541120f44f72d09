"""Where the server's time went, from py-spy's folded stacks (`run.py --profile`).

    .venv/bin/python bench/load/hotspots.py var/load/<run>/profile-1x.txt [--top 40]

Prints the functions with the most samples on the stack (inclusive) and at the top of it (self),
as shares of all samples. Idle samples (the event loop waiting) are excluded by py-spy's
`--nonblocking` idle filter only partly, so the share of `select`/`epoll` is shown too."""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.+?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match.group("file")
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match.group('function')} ({path})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--filter", default="", help="only functions whose file contains this")
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in args.stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        frames = [_short(f) for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        total += samples
        for frame in set(frames):
            inclusive[frame] += samples
        if frames:
            own[frames[-1]] += samples
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n== {title}")
        shown = 0
        for frame, samples in counter.most_common():
            if args.filter and args.filter not in frame:
                continue
            print(f"{samples / total:6.1%}  {frame}")
            shown += 1
            if shown >= args.top:
                break


if __name__ == "__main__":
    main()
