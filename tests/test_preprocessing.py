import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nablanet.data.preprocessing import one_hot, stratified_split


def test_one_hot_sorted_classes():
    Y, classes = one_hot([2, 0, 1, 2])
    np.testing.assert_array_equal(classes, [0, 1, 2])
    np.testing.assert_array_equal(Y, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert Y.dtype == np.float64


def test_one_hot_given_classes_keep_their_order_and_absent_classes():
    Y, classes = one_hot(["cat", "dog"], classes=["dog", "bird", "cat"], dtype=np.float32)
    np.testing.assert_array_equal(classes, ["dog", "bird", "cat"])
    np.testing.assert_array_equal(Y, [[0, 0, 1], [1, 0, 0]])
    assert Y.dtype == np.float32


def test_one_hot_unknown_label_is_named():
    with pytest.raises(ValueError, match=r"label\(s\) not in classes: \[7\]"):
        one_hot([0, 7, 1], classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"not in classes: \['fish'\]"):
        one_hot(["cat", "fish"], classes=["cat", "dog"])


def test_one_hot_bad_arguments():
    with pytest.raises(ValueError, match="duplicates: \\[1\\]"):
        one_hot([1], classes=[1, 2, 1])
    with pytest.raises(ValueError, match="1-D"):
        one_hot([[0, 1]])
    with pytest.raises(ValueError, match="non-empty"):
        one_hot([0], classes=[])
    with pytest.raises(ValueError, match="float32 or float64"):
        one_hot([0], dtype=np.int64)


def test_one_hot_rows_sum_to_one_and_decode():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, size=50)
    Y, classes = one_hot(y)
    np.testing.assert_array_equal(Y.sum(axis=1), np.ones(50))
    np.testing.assert_array_equal(classes[Y.argmax(axis=1)], y)


def _blobs(counts, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts)
    rng.shuffle(y)
    X = np.column_stack([np.arange(y.size), rng.normal(size=y.size)])  # column 0: row id
    return X, y


def test_split_sizes_and_proportions():
    X, y = _blobs([50, 30, 20])
    X_train, X_test, y_train, y_test = stratified_split(X, y, test_size=0.2, seed=3)
    assert len(X_test) == 20 and len(X_train) == 80
    np.testing.assert_array_equal(np.bincount(y_test), [10, 6, 4])
    # rows stay with their labels, and the parts partition the data
    ids = np.concatenate([X_train[:, 0], X_test[:, 0]]).astype(int)
    np.testing.assert_array_equal(np.sort(ids), np.arange(100))
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), y[ids])


def test_split_deterministic_and_seed_dependent():
    X, y = _blobs([40, 40, 40])
    a = stratified_split(X, y, seed=5)
    b = stratified_split(X, y, seed=5)
    c = stratified_split(X, y, seed=6)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])


def test_split_accepts_generator_and_images_and_string_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 2, 3))
    y = np.array(["a", "b", "c"] * 4)
    X_train, X_test, y_train, y_test = stratified_split(X, y, test_size=0.25, seed=rng)
    assert X_train.shape == (9, 2, 3) and X_test.shape == (3, 2, 3)
    assert sorted(y_test) == ["a", "b", "c"]


def test_small_class_lands_in_both_parts():
    X, y = _blobs([98, 2])
    _, _, y_train, y_test = stratified_split(X, y, test_size=0.1, seed=0)
    assert set(y_test) == {0, 1} and set(y_train) == {0, 1}
    assert len(y_test) == 10


@pytest.mark.parametrize("bad", [0, 1, 0.0, 1.0, 1.5, -0.1, float("nan"), "half", None])
def test_split_bad_test_size(bad):
    X, y = _blobs([5, 5])
    with pytest.raises(ValueError, match=r"test_size must be a number in \(0, 1\)"):
        stratified_split(X, y, test_size=bad)


def test_split_single_sample_class_is_named():
    X, y = _blobs([5, 1, 5])
    with pytest.raises(ValueError, match=r"single sample.*\[1\]"):
        stratified_split(X, y)


def test_split_too_few_samples_for_every_class():
    X, y = _blobs([10, 10, 10, 10])
    with pytest.raises(ValueError, match="puts 2 of 40 samples in the test part.*4 classes"):
        stratified_split(X, y, test_size=0.05)
    with pytest.raises(ValueError, match="puts 38 of 40 .* and 2 in the training part"):
        stratified_split(X, y, test_size=0.95)


def test_split_length_mismatch():
    with pytest.raises(ValueError, match="different numbers of samples"):
        stratified_split(np.zeros((5, 2)), [0, 1, 0, 1])


@settings(max_examples=150, deadline=None)
@given(
    counts=st.lists(st.integers(2, 30), min_size=1, max_size=8),
    test_size=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_property(counts, test_size, seed):
    X, y = _blobs(counts, seed=1)
    m, k = len(y), len(counts)
    n_test = math.ceil(test_size * m)
    if n_test < k or m - n_test < k:
        with pytest.raises(ValueError, match="each needs at least one sample"):
            stratified_split(X, y, test_size=test_size, seed=seed)
        return
    X_train, X_test, y_train, y_test = stratified_split(X, y, test_size=test_size, seed=seed)
    assert len(y_test) == n_test and len(y_train) == m - n_test
    assert set(y_test) == set(y_train) == set(range(k))
    ids = np.concatenate([X_train[:, 0], X_test[:, 0]]).astype(int)
    np.testing.assert_array_equal(np.sort(ids), np.arange(m))


# --- the one split (issue 11) --------------------------------------------------------


def test_split_indices_unstratified_is_ceil_and_a_partition():
    from nablanet.data.splitting import split_indices

    kept, out = split_indices(10, 0.25, seed=3)
    assert len(out) == 3 and len(kept) == 7  # ceil(2.5)
    assert sorted([*kept.tolist(), *out.tolist()]) == list(range(10))
    # the draw is default_rng(seed).permutation(m), held-out rows first
    order = np.random.default_rng(3).permutation(10)
    assert out.tolist() == order[:3].tolist() and kept.tolist() == order[3:].tolist()
    again = split_indices(10, 0.25, seed=np.random.default_rng(3))
    assert again[1].tolist() == out.tolist()


def test_split_stratified_equals_stratified_split():
    from nablanet.data.splitting import split

    X, y = _blobs([10, 20, 7])
    parts = split(X, y, fraction=0.3, seed=4, labels=y)
    for a, b in zip(parts, stratified_split(X, y, test_size=0.3, seed=4), strict=True):
        np.testing.assert_array_equal(a, b)


def test_split_messages_name_the_fraction_and_the_part():
    from nablanet.data.splitting import split, split_indices

    with pytest.raises(ValueError, match=r"validation_fraction must be a number in \(0, 1\)"):
        split_indices(10, 1.0, name="validation_fraction")
    with pytest.raises(ValueError, match=r"fraction=0.95 puts 2 of 2 samples in the test part "
                       "and leaves none for training"):
        split_indices(2, 0.95)
    with pytest.raises(ValueError, match="puts 2 of 6 samples in the validation part and 4 in"):
        split_indices(6, 0.2, labels=[0, 0, 1, 1, 2, 2], what="validation")
    with pytest.raises(ValueError, match=r"labels must be of shape \(6,\)"):
        split_indices(6, 0.5, labels=[0, 1])
    with pytest.raises(ValueError, match="different numbers of samples"):
        split(np.zeros((5, 2)), np.zeros(4), fraction=0.5)


def test_split_passes_none_through():
    from nablanet.data.splitting import split

    X, Y = np.arange(20).reshape(10, 2), np.arange(10)
    X_kept, X_out, s_kept, s_out, Y_kept, Y_out = split(X, None, Y, fraction=0.2, seed=0)
    assert s_kept is None and s_out is None
    np.testing.assert_array_equal(X_out[:, 0] // 2, Y_out)
    np.testing.assert_array_equal(X_kept[:, 0] // 2, Y_kept)


def test_split_keeps_sparse_matrices_sparse():
    import scipy.sparse as sp

    from nablanet.data.splitting import split

    X = np.arange(40.0).reshape(10, 4)
    y = np.arange(10) % 2
    S_kept, S_out, y_kept, y_out = split(sp.csr_matrix(X), y, fraction=0.3, seed=1, labels=y)
    X_kept, X_out, _, _ = split(X, y, fraction=0.3, seed=1, labels=y)
    assert sp.issparse(S_kept) and S_kept.format == "csr"
    np.testing.assert_array_equal(S_kept.toarray(), X_kept)
    np.testing.assert_array_equal(S_out.toarray(), X_out)
