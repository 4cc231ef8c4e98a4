"""Store verification and repair: coverage (not only checksums), exact re-harvest of bad or missing shards,
in-place re-harvest that repairs instead of reporting "complete", and a corpus that ends early."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from monoscope.store import ActivationStore, StoreError, harvest
from monoscope.store.check import check_store
from monoscope.store.harvest import repair

ARGS = dict(hooks="resid_post.1,resid_pre.0", n_tokens=2000, context_len=32, batch_size=4, shard_tokens=256,
            progress=False)


def _harvest(lm, corpus, out, **kw):
    return harvest(lm, out, corpus=str(corpus), **{**ARGS, **kw})


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _flip(path: Path, at: int = -5) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _drop_entry(store_dir: Path, i: int) -> str:
    """Delete shard i's directory and its manifest entry (what the old error message advised)."""
    m = json.loads((store_dir / "manifest.json").read_text())
    name = m["shards"].pop(i)["name"]
    (store_dir / "manifest.json").write_text(json.dumps(m))
    shutil.rmtree(store_dir / "shards" / name)
    return name


@pytest.fixture()
def reference(tiny_lm, text_corpus, tmp_path):
    return _harvest(tiny_lm, text_corpus, tmp_path / "ref").store


def test_repair_reharvests_bad_and_missing_shards_byte_for_byte(tiny_lm, text_corpus, tmp_path, reference):
    """Must-show: a corrupt shard and a deleted one (dir and manifest entry) are found, by name and by context
    range, and repaired into a store whose every file (manifest included) equals an uninterrupted harvest's.
    Fails if repair re-harvests at the end of the store instead of in place, changes boundaries, or keeps the
    totals of the broken store."""
    bad = tmp_path / "bad"
    shutil.copytree(reference.path, bad)
    victim = reference.manifest.shards[2]
    _flip(bad / "shards" / victim.name / "act.resid_post.1.npy")
    gone = _drop_entry(bad, 5)
    lost = reference.manifest.shards[5]
    found = check_store(bad)
    assert f"shard {victim.name}: checksum mismatch in act.resid_post.1.npy" in "\n".join(found.problems)
    assert f"contexts {lost.first_context}–{lost.end_context - 1} are missing" in "\n".join(found.problems)
    assert found.bad_shards == [victim.name] and not found.ok
    before, left = repair(bad, model=tiny_lm, progress=False)
    assert not before.ok and left.ok, left.problems
    assert _files(bad) == _files(reference.path)
    assert gone in {s.name for s in ActivationStore(bad).manifest.shards}
    assert ActivationStore(bad).norm_scalar("resid_post.1") == reference.norm_scalar("resid_post.1")


def test_reharvest_in_place_repairs_instead_of_reporting_complete(tiny_lm, text_corpus, tmp_path, reference):
    """The issue's sequence: re-running the same harvest over a corrupt shard said "complete"; over a deleted
    entry it wrote a duplicate at the end. Now the same command repairs both in place."""
    bad = tmp_path / "bad"
    shutil.copytree(reference.path, bad)
    _flip(bad / "shards" / reference.manifest.shards[1].name / "tokens.npy", at=-3)
    _drop_entry(bad, 3)
    res = _harvest(tiny_lm, text_corpus, bad)
    assert res.store.manifest.complete and res.new_tokens == 2 * 8 * 32
    assert _files(bad) == _files(reference.path)
    assert check_store(bad).ok


def test_verify_sees_overlaps_gaps_and_moved_totals(tiny_lm, text_corpus, tmp_path, reference):
    """Checksums all match here, yet the store is wrong: a shard recorded at the wrong place and totals that
    do not match the shards. A checksum-only verify passes both."""
    d = tmp_path / "s"
    shutil.copytree(reference.path, d)
    m = json.loads((d / "manifest.json").read_text())
    m["shards"][3]["first_context"] = m["shards"][2]["first_context"] + 4
    (d / "manifest.json").write_text(json.dumps(m))
    problems = "\n".join(check_store(d).problems)
    assert "overlaps" in problems and "are missing" in problems
    m = json.loads((reference.path / "manifest.json").read_text())
    m["sq_norm_sum"]["resid_post.1"] *= 1.001
    (d / "manifest.json").write_text(json.dumps(m))
    assert "normalisation sums" in "\n".join(check_store(d).problems)
    repair(d, model=tiny_lm, progress=False)
    assert _files(d) == _files(reference.path)


def test_nonfinite_activations_are_named_by_verify(tiny_lm, text_corpus, tmp_path, reference):
    """A shard whose activations hold NaN (checksums rewritten to match) is named, with the row."""
    d = tmp_path / "s"
    shutil.copytree(reference.path, d)
    shard = reference.manifest.shards[4]
    path = d / "shards" / shard.name / "act.resid_pre.0.npy"
    arr = np.load(path)
    arr[7, 3] = 0x7FC0                                           # bf16 NaN
    np.save(path, arr)
    m = json.loads((d / "manifest.json").read_text())
    from monoscope.fileio import sha256_file
    m["shards"][4]["files"]["act.resid_pre.0.npy"] = sha256_file(path)
    (d / "manifest.json").write_text(json.dumps(m))
    problems = check_store(d).problems
    assert any(f"shard {shard.name}: 1 non-finite values" in p and "row 7" in p for p in problems), problems


def test_a_corpus_that_ends_first_gives_a_complete_store_of_what_it_has(tiny_lm, text_corpus, tmp_path):
    """Asking for more tokens than the corpus has: the store is complete with all of them, says how many, and a
    re-run is complete at once (it used to stay "incomplete: resume" forever)."""
    res = _harvest(tiny_lm, text_corpus, tmp_path / "s", n_tokens=10 ** 6)
    m = res.store.manifest
    assert res.corpus_ended and m.complete and m.corpus_contexts == m.n_contexts > 0
    again = _harvest(tiny_lm, text_corpus, tmp_path / "s", n_tokens=10 ** 6)
    assert again.new_tokens == 0 and again.store.manifest.complete and check_store(tmp_path / "s").ok
    from monoscope.corpus import iter_contexts, iter_documents
    n = sum(1 for _ in iter_contexts(iter_documents(str(text_corpus)), tiny_lm.tokenizer, 32, add_bos=True))
    assert m.n_contexts == n


def test_a_missing_corpus_leaves_no_directory(tiny_lm, tmp_path):
    from monoscope.errors import UserError

    with pytest.raises(UserError, match="no such file"):
        harvest(tiny_lm, tmp_path / "s", corpus=str(tmp_path / "nope.jsonl"), progress=False)
    assert not (tmp_path / "s").exists()


def test_store_info_verify_is_one_error_line_naming_the_shard(tiny_lm, text_corpus, tmp_path, reference):
    import subprocess
    import sys

    d = tmp_path / "s"
    shutil.copytree(reference.path, d)
    _flip(d / "shards" / reference.manifest.shards[6].name / "special.npy", at=-1)
    proc = subprocess.run([sys.executable, "-m", "monoscope", "store-info", str(d), "--verify"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("error")]     # besides the progress bar
    assert len(err) == 1 and "Traceback" not in proc.stderr and reference.manifest.shards[6].name in err[0] and "--repair" in err[0], proc.stderr
    with pytest.raises(StoreError, match="needs --verify"):
        from typer.testing import CliRunner

        from monoscope.cli import app
        r = CliRunner().invoke(app, ["store-info", str(d), "--repair"])
        raise r.exception
