"""SQL as HTML with its keywords, strings, numbers, comments and $columns marked (for pages)."""

from __future__ import annotations

import re
from html import escape

from markupsafe import Markup
from sqlglot.tokens import Tokenizer

HEADWATER_WORDS = {
    "CONNECTION", "CONNECTIONS", "JOB", "JOBS", "COPY", "PATTERN", "EXPECTATION", "EXPECT", "VIOLATION",
    "QUARANTINE", "WARN", "ABORT", "DROP", "MATERIALIZED", "VIEW", "FILES", "KAFKA", "RUN_INTERVAL",
    "EVENT_TIME", "CONTENT_TYPE", "DEDUPLICATE_WITH", "COMMENT", "MERGE", "MATCHED", "PAUSE", "RESUME",
    "USING", "FILTER",
}  # fmt: skip
KEYWORDS = {k for k in Tokenizer.KEYWORDS if k.replace(" ", "").isalpha()} | HEADWATER_WORDS

_TOKEN = re.compile(
    r"(?P<comment>--[^\n]*|/\*.*?\*/)"
    r"|(?P<string>'(?:[^']|'')*'?)"
    r'|(?P<quoted>"(?:[^"]|"")*"?)'
    r"|(?P<column>\$[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<number>\b\d+(?:\.\d+)?\b)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)",
    re.S,
)


def highlight_sql(sql: str) -> Markup:
    """Escaped HTML; each marked token is a ``<span class="sql-KIND">``."""
    out: list[str] = []
    last = 0
    for m in _TOKEN.finditer(sql):
        out.append(escape(sql[last : m.start()]))
        kind = m.lastgroup or "word"
        text = m.group()
        if kind == "word":
            kind = "keyword" if text.upper() in KEYWORDS else ""
        out.append(f'<span class="sql-{kind}">{escape(text)}</span>' if kind else escape(text))
        last = m.end()
    out.append(escape(sql[last:]))
    return Markup("".join(out))
