"""The numpy character n-gram hasher gives scikit-learn's matrix bit for bit (the router's
artifacts were fitted on it), on every prompt of the test split and on the corner cases."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32

from moe_coder.routing.hashing import CharNgramHasher, murmurhash3_ascii, murmurhash3_spans

TEST_SPLIT = Path(__file__).resolve().parents[1] / "router_training" / "data" / "test.jsonl.gz"

CORNERS = [
    "", "a", "ab", "abc", "abcd", "a  \t\n b", "\x1c\x1d x", "ñ", "ñb", "日本語のテキスト", "x" * 5,
    "naïve café — “quotes” and emoji 🙂 in a comment\n    return x  # ok", "\u00a0\u00a0two no-break spaces",
    "tab\tand\r\nCRLF", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 outside the BMP",
]


def _sklearn(n_features: int, ngram_range=(2, 4)) -> HashingVectorizer:
    return HashingVectorizer(analyzer="char", ngram_range=ngram_range, n_features=n_features, alternate_sign=False,
                             lowercase=False, norm=None, dtype=np.float32)


def _same(A, B) -> bool:
    return (A.shape == B.shape and A.dtype == B.dtype and np.array_equal(A.indptr, B.indptr)
            and np.array_equal(A.indices, B.indices) and np.array_equal(A.data, B.data))


@pytest.mark.parametrize("n_features", [2**15, 2**20, 7])
@pytest.mark.parametrize("ngram_range", [(2, 4), (1, 3)])
def test_corner_cases_match_scikit_learn(n_features, ngram_range):
    ours = CharNgramHasher(n_features, ngram_range).transform(CORNERS)
    assert _same(ours, _sklearn(n_features, ngram_range).transform(CORNERS))
    for text in CORNERS:  # alone, all ASCII or not, as in a mixed batch
        assert _same(CharNgramHasher(n_features, ngram_range).transform([text]), _sklearn(n_features, ngram_range).transform([text]))
    assert CharNgramHasher(n_features).transform([]).shape == (0, n_features)


def test_every_test_split_prompt_matches_scikit_learn():
    from moe_coder.routing.dataset import load_labelled
    from moe_coder.routing.router import _clip
    from moe_coder.routing.text import split_conversation

    texts = [_clip(split_conversation(p)[0]) for p in load_labelled(TEST_SPLIT).prompts]
    assert len(texts) > 5000 and not all(t.isascii() for t in texts)
    assert _same(CharNgramHasher(2**15).transform(texts), _sklearn(2**15).transform(texts))


def test_murmurhash_matches_scikit_learn_on_random_bytes():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, 600).astype(np.uint8)
    for n in (1, 2, 3, 4):
        expected = [murmurhash3_32(bytes(data[i : i + n]), 0) for i in range(len(data) - n + 1)]
        assert murmurhash3_ascii(data, n).tolist() == expected
    starts, lengths = rng.integers(0, 580, 2000), rng.integers(1, 17, 2000)
    expected = [murmurhash3_32(bytes(data[s : s + k]), 0) for s, k in zip(starts, lengths)]
    assert murmurhash3_spans(data, starts, lengths).tolist() == expected


def test_bad_settings_and_lone_surrogates():
    with pytest.raises(ValueError, match="ngram_range"):
        CharNgramHasher(2**10, (2, 5))
    with pytest.raises(ValueError, match="1 to 4"):
        murmurhash3_ascii(np.zeros(8, dtype=np.uint8), 5)
    with pytest.raises(UnicodeEncodeError):  # what scikit-learn raises too
        CharNgramHasher(2**10).transform(["a\ud800b"])


def test_tfidf_and_logits_without_validation_are_scikit_learns():
    """The router's shortcuts past scikit-learn's input validation give its very bits."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    from moe_coder.routing.hashing import tfidf_transform
    from moe_coder.routing.heads import logits

    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(["def", "fn", "SELECT", "$x", "{", "}", "élan", "日本"], size=rng.integers(0, 30))) for _ in range(300)]
    counts = CharNgramHasher(2**12).transform(texts)
    for kwargs in ({"sublinear_tf": True}, {}, {"norm": "l1"}, {"use_idf": False}):
        tfidf = TfidfTransformer(**kwargs).fit(counts)
        assert _same(tfidf_transform(tfidf, counts), tfidf.transform(counts))
    X = TfidfTransformer(sublinear_tf=True).fit_transform(counts).astype(np.float32)
    for k in (2, 3):
        y = np.arange(len(texts)) % k
        model = LogisticRegression(max_iter=200).fit(X, y)
        model.coef_, model.intercept_ = model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
        z = model.decision_function(X)
        expected = np.stack([-z, z], axis=1) if k == 2 else z
        assert np.array_equal(logits(model, X), expected)
        model.coef_ = model.coef_ * 2  # new coefficients are used, not a stale copy
        z = model.decision_function(X)
        assert np.array_equal(logits(model, X), np.stack([-z, z], axis=1) if k == 2 else z)
