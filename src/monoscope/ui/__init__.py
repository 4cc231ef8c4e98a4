"""The dashboard: `monoscope serve` (FastAPI, server-rendered, no JavaScript) and static HTML exports."""
from .app import Dashboard, DashboardError, create_app, export_feature_html, export_summary_html, serve

__all__ = ["Dashboard", "DashboardError", "create_app", "export_feature_html", "export_summary_html", "serve"]
