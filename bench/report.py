"""What every benchmark here shares: its results tables (terminal and Markdown), the results
file under docs/ (keeping the part written by hand), the machine and command lines it records,
and the cleanup of its scratch directory and servers. Sets nothing on import."""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import shlex
import shutil
import signal
import sys
import unicodedata

REPO = pathlib.Path(__file__).resolve().parent.parent
# Text after this line in a results file is written by hand and survives a re-run.
HAND_WRITTEN = "<!-- Written by hand below: kept when the figures above are regenerated. -->"
# A right-aligned (numeric) column: every value starts like a number, a ratio or a bound.
NUMERIC_START = "0123456789-–±≤≥"


def bounded(low: int, high: int):
    """An argparse type: an integer within [low, high]."""
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def render_text(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(width(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(values):
        return "  ".join(v + " " * (w - width(v)) for v, w in zip(values, widths)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def render_markdown(header: list[str], rows: list[list[str]]) -> str:
    def numeric(i: int) -> bool:
        return all(r[i][:1] in NUMERIC_START for r in rows if r[i])

    def cell(text: str) -> str:  # an indented sub-row stays indented in Markdown
        stripped = text.lstrip(" ")
        return "&nbsp;&nbsp;" * ((len(text) - len(stripped)) // 2) + stripped

    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i and numeric(i) else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def write_markdown(path, lines: list[str]) -> None:
    """Write a results file, keeping the hand-written part of the one it replaces."""
    out = pathlib.Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    kept = ""
    if out.exists() and HAND_WRITTEN in (old := out.read_text(encoding="utf-8")):
        kept = "\n" + HAND_WRITTEN + old.split(HAND_WRITTEN, 1)[1]
    out.write_text("\n".join(lines) + kept, encoding="utf-8")
    print(f"\nwrote {out}")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, Python {platform.python_version()}"


def command_line(script: str, argv: list[str] | None) -> str:
    """How the benchmark was run, relative to the repository, for its results file."""
    return " ".join(shlex.quote(a) for a in [
        os.path.relpath(sys.executable, REPO), os.path.relpath(script, REPO),
        *(argv if argv is not None else sys.argv[1:])])


def print_problems(problems: list[str]) -> None:
    if problems:
        print("\nProblems:")
        for p in problems:
            print("  - " + p)


def markdown_problems(problems: list[str]) -> list[str]:
    return ["Problems:", ""] + [f"- {p}" for p in problems] + [""] if problems else []


def clean_up(tmp: pathlib.Path, keep: bool = False, servers=()) -> None:
    """Stop the servers and remove the scratch directory (or say where it was kept)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
    try:
        for server in servers:
            server.stop()
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
