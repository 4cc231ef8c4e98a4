"""What the audit tools say about a feature comes from its database row: logit effects and neighbours."""
from __future__ import annotations

from monoscope.audit.cli import describe_feature

from .test_features_index import db, sae, store  # noqa: F401  (module fixtures)


def test_describe_feature_reads_logit_effects_and_neighbours(db):  # noqa: F811
    f = next(r["feature"] for r in db.list_features(alive_only=True, limit=5))
    row = db.feature(f)
    text = describe_feature(db, f)
    first_promoted = db.token_text([row["top_logit_ids"][0]])[0]
    assert f"promotes: {first_promoted!r}" in text
    assert f"{row['neighbours'][0]} ({row['neighbour_cos'][0]:.2f})" in text
    assert text.startswith(f"density {row['density']:.2e}")
