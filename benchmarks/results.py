"""Write one section of benchmarks/RESULTS.md, leaving the other sections as they are."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = "# Benchmark results\n\nRatios within one run on a shared, noisy machine; absolute numbers vary.\n\n"


def write_section(title: str, section: str) -> None:
    """Replace the `## {title}` section (up to the next `## `) or append it."""
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    section = section.rstrip("\n") + "\n\n"  # a blank line before the next section
    heading = f"## {title}"
    start = text.find(heading)
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)
