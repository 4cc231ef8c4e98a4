"""The dashboard: `monoscope serve` (FastAPI, server-rendered, no JavaScript) and static HTML exports."""
from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    'Dashboard': 'app',
    'DashboardError': 'app',
    'create_app': 'app',
    'export_feature_html': 'app',
    'export_summary_html': 'app',
    'serve': 'app',
})
