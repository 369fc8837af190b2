"""A small builder of self-contained HTML pages.

A :class:`Page` holds a title and :class:`Section` objects; a section holds paragraphs, tables and
figures in the order they were added. :meth:`Page.render` returns one HTML5 document whose only parts are
inline: a ``<style>`` block and matplotlib figures as inline ``<svg>`` (text kept as text, so names in
plots stay searchable). Nothing references a URL: the SVG namespace and metadata declarations that
matplotlib writes are dropped (inline SVG in HTML5 needs neither), so the page opens offline, can be
mailed or attached to a ticket, and needs no JavaScript. Every text given is HTML-escaped.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;
padding:0 1rem;color:#1d2430;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d8dde6}
.sub{color:#5a6475;margin-top:0}table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e3e7ee;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f5f9}
caption{caption-side:bottom;color:#5a6475;font-size:.8rem;padding-top:.3rem;text-align:left}
figure{margin:1rem 0}figcaption{color:#5a6475;font-size:.85rem}svg{max-width:100%;height:auto}
.bad{color:#b42318;font-weight:600}.good{color:#067647;font-weight:600}.empty{color:#8a93a3;font-style:italic}
"""
# matplotlib's SVG writer adds an XML prolog, a DOCTYPE, namespace declarations and Dublin Core metadata,
# each naming a URL; none is needed inline in HTML5, and a self-contained page must reference no URL.
_PROLOG = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_XMLNS = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')
#: Classes a table cell may carry (``Cell``): ``bad`` (red), ``good`` (green).
CELL_CLASSES = frozenset({"bad", "good"})


def figure_svg(fig: Figure) -> str:
    """``fig`` as an inline ``<svg>`` element (text as text, no URL anywhere); closes nothing."""
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "pymk"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = _METADATA.sub("", _PROLOG.sub("", buffer.getvalue()))
    return _XMLNS.sub("", text).strip()


@dataclass(frozen=True)
class Cell:
    """A table cell with a CSS class from :data:`CELL_CLASSES` (e.g. a red "drift")."""

    text: str
    css: str

    def __post_init__(self) -> None:
        if self.css not in CELL_CLASSES:
            raise ValueError(f"unknown cell class {self.css!r}")


@dataclass
class Section:
    """One ``<h2>`` section; add parts in display order."""

    heading: str
    parts: list[str] = field(default_factory=list)

    def paragraph(self, text: str, *, empty: bool = False) -> Section:
        """A paragraph of plain text (``empty``: styled as a "nothing to show" note)."""
        css = ' class="empty"' if empty else ""
        self.parts.append(f"<p{css}>{html.escape(text)}</p>")
        return self

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[object]],
        *,
        caption: str | None = None,
        digits: int = 4,
    ) -> Section:
        """A table; floats are shown with ``digits`` decimals, :class:`Cell` values with their class."""
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(_cell(v, digits) for v in row) + "</tr>" for row in rows)
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self.parts.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        return self

    def figure(self, fig: Figure, caption: str | None = None) -> Section:
        """A matplotlib figure as inline SVG, with an optional caption."""
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self.parts.append(f"<figure>{figure_svg(fig)}{cap}</figure>")
        return self

    def render(self) -> str:
        """The section's HTML."""
        return f"<section><h2>{html.escape(self.heading)}</h2>{''.join(self.parts)}</section>"


def _cell(value: object, digits: int) -> str:
    if isinstance(value, Cell):
        return f'<td class="{value.css}">{html.escape(value.text)}</td>'
    if isinstance(value, float):
        text = "—" if value != value else f"{value:.{digits}f}"  # NaN
    elif value is None:
        text = "—"
    else:
        text = str(value)
    return f"<td>{html.escape(text)}</td>"


@dataclass
class Page:
    """A report page: ``title``, an optional ``subtitle`` line, and sections in order."""

    title: str
    subtitle: str | None = None
    sections: list[Section] = field(default_factory=list)

    def section(self, heading: str) -> Section:
        """Append a new section and return it."""
        section = Section(heading)
        self.sections.append(section)
        return section

    def render(self) -> str:
        """The whole page as one HTML5 document (UTF-8), stamped with the UTC time it was rendered."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        sub = f"{html.escape(self.subtitle)} · " if self.subtitle else ""
        body = "".join(s.render() for s in self.sections)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            f'<h1>{html.escape(self.title)}</h1><p class="sub">{sub}generated {stamp}</p>{body}'
            "</body></html>\n"
        )

    def write(self, path: Path) -> Path:
        """Render into ``path`` (parent folders created); returns ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(), encoding="utf-8")
        return path
