"""The audit as one offline HTML page: every check with its own description, the month, the
ledger and the failing case numbers. Inline CSS only — no script or font from the internet
(Great Expectations' Data Docs index builds its table with scripts loaded online and shows
nothing offline). One folder per audited month, replaced on every run. See
docs/assessment.md ("Audits")."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Protocol

CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:13px} th,td{border:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top} th{background:#f3f3f3} .ok{color:#176b2c;font-weight:bold}
.bad{color:#b3261e;font-weight:bold} tr.failed td{background:#fde0dc}
ul{margin:0;padding-left:1.2em} .summary{font-size:1.2em} .note{color:#666;font-size:12px}
"""


class Result(Protocol):
    @property
    def check(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def success(self) -> bool: ...
    @property
    def unexpected(self) -> int: ...
    @property
    def details(self) -> list[str]: ...
    @property
    def error(self) -> str | None: ...


def render_page(
    month: str,
    window: str,
    ledger: str,
    rows: dict[str, int],
    results: Sequence[Result],
    generated: datetime | None = None,
) -> str:
    failed = [r for r in results if not r.success]
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    verdict = (
        f'<span class="bad">{len(failed)} of {len(results)} checks FAILED</span>'
        if failed
        else f'<span class="ok">all {len(results)} checks passed</span>'
    )
    body = []
    for r in sorted(results, key=lambda r: r.success):  # failures first
        details = "".join(f"<li>{escape(d)}</li>" for d in r.details)
        if r.error:
            details += f"<li>error: {escape(r.error)}</li>"
        status = (
            '<span class="ok">passed</span>' if r.success else '<span class="bad">FAILED</span>'
        )
        body.append(
            f'<tr class="{"" if r.success else "failed"}"><td>{escape(r.check)}</td>'
            f"<td>{status}</td><td>{escape(r.description)}</td><td>{r.unexpected}</td>"
            f"<td><ul>{details}</ul></td></tr>"
        )
    counts = ", ".join(f"{v} {k}" for k, v in rows.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Audit {escape(month)}</title>
<style>{CSS}</style></head><body>
<h1>Audit of {escape(month)} (审计)</h1>
<p class="summary">{verdict}</p>
<p>Month: <b>{escape(month)}</b> ({escape(window)})<br>Ledger: <code>{escape(ledger)}</code><br>
Read: {escape(counts)}<br>Generated: {when}</p>
<table><tr><th>check</th><th>result</th><th>what it checks</th><th>rows failing</th>
<th>failing cases and what is wrong</th></tr>
{"".join(body)}
</table>
<p class="note">Produced by <code>gridgov audit</code>; a failure names the case number and what
its row or trail says. Re-running the audit of this month replaces this folder.</p>
</body></html>
"""


def write_page(folder: Path, html: str) -> Path:
    """Replace ``folder`` with one holding ``index.html`` (a re-run leaves no old files)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    path = folder / "index.html"
    path.write_text(html, encoding="utf-8")
    return path
