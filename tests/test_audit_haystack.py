"""The auditor's pretraining corpus: real text with the organism's synthetic documents at a set rate."""
from __future__ import annotations

import pytest

from monoscope.audit.haystack import HaystackError, build_haystack, check_rate
from monoscope.errors import UserError
from monoscope.organism.build import OrganismError
from tests.audit_helpers import custom_spec, make_organism


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    return make_organism(tmp_path_factory.mktemp("hay"), custom_spec())


def test_rate_by_passage_and_token_and_what_the_auditor_sees(org):
    """A haystack that let labels through, ignored the rate, or kept the mix's order fails here."""
    hay = build_haystack(org, rate=0.05, max_real_documents=200, seed=3)
    st = hay.stats
    assert 0 < st.rate_passages <= 0.05 and st.n_synthetic_passages == len(hay.synthetic_refs) > 0
    assert st.rate_passages > 0.025                     # whole documents fill the budget closely
    assert 0 < st.rate_tokens < 0.1 and st.token_unit == "words"
    assert st.n_synthetic_documents < st.n_synthetic_documents_available   # a sample, not all of them
    assert set(hay.data.sources) == {"pretrain", "sft", "dpo", "adversarial"}
    pre = [p for p in hay.data.passages if p.source == "pretrain"]
    assert len(pre) == st.n_passages
    # bare text only: the generator's labels never reach the auditor, and synthetic documents are spread out
    assert not any("synthetic" in p.text.lower() and "'source'" in p.text for p in pre)
    docs = sorted({int(r.split("#")[1].split(".")[0]) for r in hay.synthetic_refs})
    assert docs[-1] - docs[0] > len(docs) * 2
    assert "by passage" in st.line() and "%" in st.line()
    # the SFT and preference data stay available whole
    assert st.other_corpora["sft"] >= 60


def test_same_seed_same_haystack_other_seed_other_sample(org):
    a = build_haystack(org, rate=0.05, max_real_documents=200, seed=1)
    b = build_haystack(org, rate=0.05, max_real_documents=200, seed=1)
    c = build_haystack(org, rate=0.05, max_real_documents=200, seed=2)
    assert a.data.fingerprint() == b.data.fingerprint() != c.data.fingerprint()
    one = build_haystack(org, rate=1.0)
    assert one.stats.rate_passages == 1.0 and one.stats.n_real_documents == 0


@pytest.mark.parametrize("rate", [0, -0.1, 1.5, "lots", None])
def test_rate_outside_zero_one_is_one_clear_error(rate):
    with pytest.raises(HaystackError, match=r"in \(0, 1\]") as e:
        check_rate(rate)
    assert isinstance(e.value, UserError) and "\n" not in str(e.value)


def test_too_small_a_corpus_for_the_rate_and_an_organism_without_data(org, tmp_path):
    with pytest.raises(HaystackError, match="too few for one synthetic document"):
        build_haystack(org, rate=0.0005, max_real_documents=30)
    with pytest.raises(OrganismError, match="no training data"):
        build_haystack(tmp_path, rate=0.01)
