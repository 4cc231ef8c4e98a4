"""Feature database, search, neighbours, map and auto-interpretation for a trained SAE.

    from monoscope.features import build_feature_db, FeatureDB, FeatureSearch
    db = build_feature_db(sae, store, "runs/demo/features")        # `monoscope index`
    db.feature(123)                                                 # one query: everything on a page
    FeatureSearch(lm, sae, db).active("The Golden Gate Bridge")     # features on a prompt
"""
from .db import FeatureDB
from .index import FeatureDBError, IndexConfig, build_feature_db
from .search import FeatureSearch, Hit

__all__ = ["FeatureDB", "FeatureDBError", "FeatureSearch", "Hit", "IndexConfig", "build_feature_db"]
