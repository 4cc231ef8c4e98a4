"""Feature database, search, neighbours, map and auto-interpretation for a trained SAE.

    from monoscope.features import build_feature_db, FeatureDB, FeatureSearch
    db = build_feature_db(sae, store, "runs/demo/features")        # `monoscope index`
    db.feature(123)                                                 # one query: everything on a page
    FeatureSearch(lm, sae, db).active("The Golden Gate Bridge")     # features on a prompt
    explain(db, n_features=5)                                       # `monoscope explain` (local SmolLM2)
    from monoscope.ui import serve; serve(db, lm=lm, sae=sae)       # `monoscope serve` on 127.0.0.1:8000
"""
from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    'FeatureDB': 'db',
    'ExplainConfig': 'explain',
    'explain': 'explain',
    'FeatureDBError': 'index',
    'IndexConfig': 'index',
    'build_feature_db': 'index',
    'FeatureSearch': 'search',
    'Hit': 'search',
})
