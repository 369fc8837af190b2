"""Self-contained HTML reports: one page, inline CSS, plots as inline SVG, no external assets, no script.

- :mod:`pymk.reports.page`: the page builder (title, sections, paragraphs, tables, figures);
- :mod:`pymk.reports.figures`: matplotlib figures (Agg backend) for the charts the reports draw.

Used by ``pymk monitor --report`` (:mod:`pymk.monitoring.report`) and ``pymk evaluate --report``
(:mod:`pymk.evaluation.report`).
"""

from pymk.reports.page import Page, Section, figure_svg

__all__ = ["Page", "Section", "figure_svg"]
