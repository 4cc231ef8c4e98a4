"""Reading a feature database: Parquet tables queried through DuckDB, so a feature page is one query.

Directory layout (written by `monoscope index`, `build_feature_db`):

    manifest.json             format version, SAE fingerprint/hook/model, store fingerprint, config, stats,
                              logit-effect method, map method, logit consistency, sha256 of every file
    features.parquet          one row per feature: alive, density, n_active, max_act, mean_act, q50/q90/q99,
                              dec_norm, hist (fine log bins from hist_lo, bins_per_octave in the manifest),
                              top/bottom_logit_ids/vals, neighbours/neighbour_cos, [cross_neighbours/cross_cos],
                              map_x/map_y
    examples.parquet          (feature, kind 'top'|'sample', bucket, rank, act, token_index, peak_token,
                              next_token, start, tokens[], acts[]) sorted by feature; `tokens` are ids into
                              vocab, `acts` the feature's activation on each, `start` the store row of tokens[0]
    vocab.parquet             (id, text) display text of each token id
    background.parquet        random windows (window, start, tokens[]) + background_acts.parquet (window,
                              feature, act) — every feature's max in each window (sparse), for detection
    max_acts.safetensors      {"max_acts": [n]} — the steering unit (Steerer(max_acts=...))
    explanations.jsonl        appended by `monoscope explain` (last record per feature wins); each scorer's
                              record is flattened into columns by `flatten_scores`
    plots/                    specificity plots
"""
from __future__ import annotations

import json
import math
import os
import re
import threading
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .index import FORMAT_VERSION, MANIFEST, MAX_ACTS, FeatureDBError, sae_fingerprint

EXPLANATIONS = "explanations.jsonl"
SCORERS = ("detection", "fuzzing", "specificity")
EXPLANATION_COLUMNS = {
    "explanation": "VARCHAR", "explainer": "VARCHAR", "judge": "VARCHAR", "created": "VARCHAR", "plot": "VARCHAR",
    **{f"{s}{suffix}": t for s in SCORERS for suffix, t in (
        ("", "DOUBLE"), ("_n", "INTEGER"), ("_ci", "DOUBLE[]"), ("_control", "DOUBLE"),
        ("_uninformative", "BOOLEAN"), ("_reason", "VARCHAR"))},
    "specificity_zero": "DOUBLE", "specificity_by_level": "DOUBLE[]",
}


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def flatten_scores(rec: dict) -> dict:
    """Columns of one explanation record: each scorer's nested record ({"score", "n", "ci", "control", ...}
    or {"uninformative"/"insufficient": true, "reason"}) becomes `<scorer>`, `<scorer>_n`, `<scorer>_ci`,
    `<scorer>_control`, `<scorer>_uninformative`, `<scorer>_reason`. The score column is NULL unless the
    judge was informative, so nothing sorts by an uncontrolled score; bare numbers (records written before
    scores carried a control) are dropped for the same reason."""
    out = {k: v for k, v in rec.items() if k in EXPLANATION_COLUMNS and k not in SCORERS}
    for s in SCORERS:
        v = rec.get(s)
        if not isinstance(v, dict):
            continue
        out[s] = v.get("score") if not v.get("uninformative") and not v.get("insufficient") else None
        out[f"{s}_n"] = v.get("n")
        out[f"{s}_ci"] = v.get("ci") if out[s] is not None else None
        out[f"{s}_control"] = (v.get("control") or {}).get("score")
        out[f"{s}_uninformative"] = bool(v.get("uninformative") or v.get("insufficient"))
        out[f"{s}_reason"] = v.get("reason")
        if s == "specificity":
            out["specificity_zero"] = v.get("zero") if out[s] is not None else None
            out["specificity_by_level"] = v.get("by_level")
    return out
_TABLES = ("features", "examples", "vocab", "background", "background_acts")
_WORD = re.compile(r"[A-Za-z0-9_]+")


def _sql_str(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class FeatureDB:
    """A feature database directory opened read-mostly (explanations can be appended)."""

    def _check_files(self) -> None:
        """Every file the manifest lists against its sha256: a flipped byte is named here, not served."""
        from ..fileio import sha256_file

        for name, digest in (self.manifest.get("files") or {}).items():
            p = self.path / name
            if p.exists() and digest and sha256_file(p) != digest:
                raise FeatureDBError(f"{p}: checksum mismatch (the file is corrupt); rebuild the database with "
                                     f"`monoscope index`")

    def __init__(self, path: str | Path):
        import duckdb

        self.path = Path(path)
        mf = self.path / MANIFEST
        if not mf.exists():
            raise FeatureDBError(f"{self.path} is not a feature database: no {MANIFEST} "
                                 f"(build one with `monoscope index`)")
        try:
            self.manifest: dict[str, Any] = json.loads(mf.read_text())
        except json.JSONDecodeError as e:
            raise FeatureDBError(f"{mf} is not valid JSON ({e}); the database is corrupt") from e
        if self.manifest.get("kind") != "monoscope-feature-db":
            raise FeatureDBError(f"{mf} is not a feature database manifest (kind={self.manifest.get('kind')!r})")
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise FeatureDBError(f"{mf} has format_version {self.manifest.get('format_version')!r}; this "
                                 f"monoscope reads version {FORMAT_VERSION}: rebuild it with `monoscope index`")
        if not self.manifest.get("complete"):
            raise FeatureDBError(f"{self.path} is an incomplete feature database; re-run `monoscope index` "
                                 f"to finish it")
        for t in ("features", "examples", "vocab"):
            if not (self.path / f"{t}.parquet").exists():
                raise FeatureDBError(f"{self.path} is missing {t}.parquet; the database is incomplete")
        self._check_files()
        self._db = duckdb.connect(":memory:")
        for t in _TABLES:
            p = self.path / f"{t}.parquet"
            if p.exists():
                self._db.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet({_sql_str(p)})")
        if not (self.path / "background.parquet").exists():
            self._db.execute("CREATE TABLE background (window INTEGER, start BIGINT, tokens INTEGER[])")
            self._db.execute("CREATE TABLE background_acts (window INTEGER, feature INTEGER, act FLOAT)")
        self._lock = threading.RLock()
        self._expl_mtime: float | None = -1.0
        self._refresh_explanations()
        self.vocab: list[str] = [r[0] for r in self._db.execute("SELECT text FROM vocab ORDER BY id").fetchall()]
        self.n_latents: int = int(self.manifest["sae"]["n_latents"])
        self._max_acts = None

    def __repr__(self) -> str:
        s = self.manifest["stats"]
        return (f"FeatureDB({str(self.path)!r}: {self.n_latents} features of {self.manifest['sae'].get('model')} "
                f"at {self.hook}, {s['alive']} alive, {s['tokens_counted']:,} tokens)")

    # ---- metadata ---------------------------------------------------------------------------------
    @property
    def hook(self) -> str:
        return self.manifest["hook"]

    @property
    def sae_fingerprint(self) -> str:
        return self.manifest["sae"]["fingerprint"]

    def check_sae(self, sae) -> None:
        """Refuse an SAE other than the one this database was built from (decoder fingerprint)."""
        fp = sae_fingerprint(sae)
        if fp != self.sae_fingerprint:
            raise FeatureDBError(
                f"this feature database ({self.path}) was built from SAE {self.sae_fingerprint} "
                f"({self.manifest['sae'].get('n_latents')} latents at {self.hook}), but the SAE given is {fp} "
                f"({sae.W_dec.shape[0]} latents): its feature ids would not match. Index this SAE with "
                f"`monoscope index`, or open its own database")

    def check_feature(self, feature: int) -> int:
        try:
            f = int(feature)
        except (TypeError, ValueError):
            raise FeatureDBError(f"feature id must be an integer, got {feature!r}") from None
        if not 0 <= f < self.n_latents:
            raise FeatureDBError(f"feature {f} is out of range: this SAE has features 0..{self.n_latents - 1}")
        return f

    def max_acts(self):
        """[n] tensor of max activations (0 for dead features): the unit of `Steerer` clamps."""
        if self._max_acts is None:
            from safetensors.torch import load_file

            p = self.path / MAX_ACTS
            if not p.exists():
                raise FeatureDBError(f"{self.path} has no {MAX_ACTS}")
            self._max_acts = load_file(str(p))["max_acts"]
        return self._max_acts

    def token_text(self, ids: Iterable[int]) -> list[str]:
        V = len(self.vocab)
        return [self.vocab[i] if 0 <= i < V else f"<{i}>" for i in ids]

    # ---- explanations --------------------------------------------------------------------------------
    def _refresh_explanations(self) -> None:
        p = self.path / EXPLANATIONS
        mtime = p.stat().st_mtime if p.exists() else None
        if mtime == self._expl_mtime:
            return
        with self._lock:
            if mtime == self._expl_mtime:
                return
            recs: dict[int, dict] = {}
            if p.exists():
                for line in p.read_text().splitlines():
                    if not line.strip():
                        continue
                    try:
                        r = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a torn last line from a killed writer
                    if isinstance(r, dict) and isinstance(r.get("feature"), int):
                        flat = flatten_scores(r)   # a new explanation replaces the old one's scores
                        recs[r["feature"]] = flat if "explanation" in r else {**recs.get(r["feature"], {}), **flat}
            cols = ", ".join(f"{c} {t}" for c, t in EXPLANATION_COLUMNS.items())
            self._db.execute(f"CREATE OR REPLACE TABLE explanations (feature INTEGER, {cols})")
            if recs:
                rows = [[f] + [r.get(c) for c in EXPLANATION_COLUMNS] for f, r in sorted(recs.items())]
                self._db.executemany(f"INSERT INTO explanations VALUES ({', '.join(['?'] * (len(EXPLANATION_COLUMNS) + 1))})", rows)
            self._expl_mtime = mtime

    def add_explanations(self, records: Sequence[dict]) -> None:
        """Append explanation/score records ({"feature": i, "explanation": ..., ...}); last one wins.

        A writer killed mid-line leaves a torn last line (skipped when read); the next append starts on a new
        line, so the torn line does not swallow the first new record."""
        p = self.path / EXPLANATIONS
        with self._lock, open(p, "a") as f:
            if f.tell() and not _ends_with_newline(p):
                f.write("\n")
            for r in records:
                self.check_feature(r["feature"])
                f.write(json.dumps(r, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._refresh_explanations()

    # ---- queries ----------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict]:
        self._refresh_explanations()
        cur = self._db.cursor()
        try:
            res = cur.execute(sql, list(params))
            names = [d[0] for d in res.description]
            return [dict(zip(names, row)) for row in res.fetchall()]
        finally:
            cur.close()

    _PAGE_SQL = """
        SELECT f.*, e.* EXCLUDE (feature),
          (SELECT list(struct_pack(kind := x.kind, bucket := x.bucket, rank := x.rank, act := x.act,
                                   token_index := x.token_index, start := x.start, tokens := x.tokens,
                                   acts := x.acts)
                       ORDER BY x.kind = 'sample', x.bucket DESC, x.rank)
           FROM examples x WHERE x.feature = f.feature) AS examples
        FROM features f LEFT JOIN explanations e ON e.feature = f.feature
        WHERE f.feature = ?"""

    def feature(self, feature: int) -> dict[str, Any]:
        """Everything about one feature, in one query: stats, histogram, logit effects, neighbours,
        explanation and scores, and its examples (top first, then bucket samples from high to low)."""
        f = self.check_feature(feature)
        rows = self.query(self._PAGE_SQL, [f])
        if not rows:
            raise FeatureDBError(f"feature {f} is missing from {self.path}/features.parquet; the database is corrupt")
        row = rows[0]
        row["examples"] = row["examples"] or []
        return row

    def list_features(self, order: str = "feature", limit: int = 50, offset: int = 0, alive_only: bool = False,
                      ids: Sequence[int] | None = None) -> list[dict]:
        orders = {"feature": "f.feature", "density": "f.density DESC", "max_act": "f.max_act DESC",
                  "rare": "f.density ASC", "specificity": "e.specificity DESC NULLS LAST"}
        if order not in orders:
            raise FeatureDBError(f"order must be one of {', '.join(orders)}, got {order!r}")
        where, params = [], []
        if alive_only:
            where.append("f.alive")
        if ids is not None:
            ids = [self.check_feature(i) for i in ids]
            if not ids:
                return []
            where.append(f"f.feature IN ({', '.join('?' * len(ids))})")
            params += ids
        sql = (f"SELECT f.feature, f.alive, f.density, f.max_act, f.mean_act, f.top_logit_ids, e.explanation, "
               f"e.specificity, e.specificity_n, e.specificity_control, e.specificity_uninformative, e.detection, "
               f"e.detection_n, e.detection_control, e.detection_uninformative, e.fuzzing, e.fuzzing_n, "
               f"e.fuzzing_control, e.fuzzing_uninformative FROM features f LEFT JOIN explanations e ON e.feature = f.feature "
               f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {orders[order]}, f.feature "
               f"LIMIT ? OFFSET ?")
        return self.query(sql, params + [int(limit), int(offset)])

    def summary(self) -> dict[str, Any]:
        r = self.query("""SELECT count(*) AS n, count(*) FILTER (WHERE alive) AS alive,
                                 avg(density) FILTER (WHERE alive) AS mean_density,
                                 median(max_act) FILTER (WHERE alive) AS median_max_act
                          FROM features""")[0]
        dens = np.array([x["density"] for x in self.query("SELECT density FROM features WHERE alive")], dtype=float)
        edges = np.arange(-7, 1, 0.5)
        counts = np.histogram(np.log10(dens), bins=edges)[0].tolist() if len(dens) else [0] * (len(edges) - 1)
        n_expl = self.query("SELECT count(*) AS c FROM explanations WHERE explanation IS NOT NULL")[0]["c"]
        return {**r, "density_hist": counts, "density_edges": edges.tolist(), "explained": n_expl,
                "manifest": self.manifest}

    def map_points(self) -> list[dict]:
        return self.query("""SELECT f.feature, f.map_x AS x, f.map_y AS y, f.density, e.explanation
                             FROM features f LEFT JOIN explanations e ON e.feature = f.feature
                             WHERE f.map_x IS NOT NULL AND f.map_y IS NOT NULL ORDER BY f.feature""")

    def examples(self, feature: int, kind: str | None = None) -> list[dict]:
        f = self.check_feature(feature)
        sql = "SELECT * FROM examples WHERE feature = ?" + (" AND kind = ?" if kind else "") + \
              " ORDER BY kind = 'sample', bucket DESC, rank"
        return self.query(sql, [f] + ([kind] if kind else []))

    def background(self, feature: int, active: bool | None = None) -> list[dict]:
        """Background windows with this feature's max activation in each (0 where it is silent)."""
        f = self.check_feature(feature)
        rows = self.query("""SELECT b.window, b.start, b.tokens, coalesce(a.act, 0.0) AS act FROM background b
                             LEFT JOIN background_acts a ON a.window = b.window AND a.feature = ?
                             ORDER BY b.window""", [f])
        if active is None:
            return rows
        return [r for r in rows if (r["act"] > 0) == active]

    # ---- lookups used by search ---------------------------------------------------------------------
    def token_ids(self, text: str) -> list[int]:
        """Vocabulary ids whose display text equals `text` (also with a leading space/marker)."""
        cands = {text, " " + text.lstrip(), text.strip()}
        return [i for i, t in enumerate(self.vocab) if t in cands]

    def features_by_token(self, token: str | int, side: str = "input", k: int = 20) -> list[dict]:
        """Features tied to a token: `input` — the token is where its top examples peak (fraction of top
        examples); `output` — the token is among its top logit effects (ranked by the logit value)."""
        ids = [token] if isinstance(token, int) else self.token_ids(token)
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        if side == "input":
            sql = f"""SELECT feature, count(*) FILTER (WHERE peak_token IN ({marks}))::DOUBLE / count(*) AS score,
                             count(*) FILTER (WHERE peak_token IN ({marks})) AS hits
                      FROM examples WHERE kind = 'top' GROUP BY feature HAVING hits > 0
                      ORDER BY score DESC, hits DESC, feature LIMIT ?"""
            return self.query(sql, ids + ids + [int(k)])
        if side == "output":
            sql = f"""SELECT feature, max(v) AS score FROM (
                        SELECT feature, unnest(top_logit_ids) AS t, unnest(top_logit_vals) AS v FROM features)
                      WHERE t IN ({marks}) GROUP BY feature ORDER BY score DESC, feature LIMIT ?"""
            return self.query(sql, ids + [int(k)])
        raise FeatureDBError(f"side must be 'input' or 'output', got {side!r}")

    def search_explanations(self, query: str, k: int = 20) -> list[dict]:
        """Features whose explanation matches the query's words (idf-weighted word overlap, ties by
        specificity); an empty list when nothing is explained yet."""
        words = {w.lower() for w in _WORD.findall(query or "")}
        if not words:
            return []
        rows = self.query("SELECT feature, explanation, specificity FROM explanations WHERE explanation IS NOT NULL")
        docs = [(r, {w.lower() for w in _WORD.findall(r["explanation"])}) for r in rows]
        df = {w: sum(w in d for _, d in docs) for w in words}
        scored = []
        for r, d in docs:
            s = sum(math.log(1 + len(docs) / df[w]) for w in words if w in d)
            if s > 0:
                scored.append({**r, "score": s})
        scored.sort(key=lambda r: (-r["score"], -(r["specificity"] or 0), r["feature"]))
        return scored[:k]

    def close(self) -> None:
        self._db.close()
