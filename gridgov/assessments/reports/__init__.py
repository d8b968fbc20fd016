"""Render an assessment: CSV and XLSX tables, a self-contained HTML report, artifact rows."""

from gridgov.assessments.reports.files import ReportFiles, write_reports

__all__ = ["ReportFiles", "write_reports"]
