import numpy as np
import pytest

import nablanet.data as datasets
from nablanet.data import Dataset, load_digits, load_fashion_mnist, load_idx_folder, sets
from nablanet.data.idx import write_idx


def _make_idx_folder(folder, n_train=20, n_test=10, shape=(28, 28), seed=0, gz=(True, False)):
    """Write four small MNIST-style files; images gzipped, labels plain by default."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }
    arrays["train-images-idx3-ubyte"][0, 0, :2] = [0, 255]  # both ends of the range
    for name, a in arrays.items():
        compress = gz[0] if "images" in name else gz[1]
        write_idx(folder / (name + ".gz" if compress else name), a, compress=compress)
    return arrays


@pytest.fixture
def no_debian(tmp_path, monkeypatch):
    """Make the Debian folder look absent, whether or not this machine has it."""
    monkeypatch.setattr(sets, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("NABLANET_DATA", str(tmp_path / "no-data-home"))


def test_fashion_mnist_from_folder(tmp_path):
    arrays = _make_idx_folder(tmp_path / "fm")
    data = load_fashion_mnist(tmp_path / "fm")
    assert data.name == "fashion-mnist"
    assert data.X_train.shape == (20, 784) and data.X_test.shape == (10, 784)
    assert data.X_train.dtype == np.float32 and data.X_test.dtype == np.float32
    assert data.X_train.flags.c_contiguous
    assert data.X_train.min() == 0.0 and data.X_train.max() == 1.0
    assert 0.0 <= data.X_test.min() and data.X_test.max() <= 1.0
    expected = arrays["train-images-idx3-ubyte"].reshape(20, -1).astype(np.float32) / 255
    np.testing.assert_array_equal(data.X_train, expected)
    assert data.y_train.dtype == np.int64 and data.y_test.dtype == np.int64
    np.testing.assert_array_equal(data.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert data.image_shape == (28, 28)
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"
    assert data.n_classes == 10 and data.n_features == 784
    # rows are images in C order
    np.testing.assert_array_equal(
        (data.X_train[3].reshape(data.image_shape) * 255).round().astype(np.uint8),
        arrays["train-images-idx3-ubyte"][3],
    )


def test_fashion_mnist_float64_and_plain_files(tmp_path):
    _make_idx_folder(tmp_path, gz=(False, True))
    data = load_fashion_mnist(tmp_path, dtype=np.float64)
    assert data.X_train.dtype == np.float64
    with pytest.raises(ValueError, match="float32 or float64"):
        load_fashion_mnist(tmp_path, dtype=np.int32)


def test_fashion_mnist_missing_files_message(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="Fashion-MNIST not found") as info:
        load_fashion_mnist(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message
    assert "missing train-labels-idx1-ubyte, t10k-images-idx3-ubyte" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "download=True" in message
    assert "make fashion-mnist" in message


def test_fashion_mnist_search_lists_debian_and_cache(tmp_path, no_debian):
    with pytest.raises(FileNotFoundError, match="Fashion-MNIST not found") as info:
        load_fashion_mnist()
    message = str(info.value)
    assert f"{tmp_path / 'no-debian'} (no such folder)" in message
    assert str(tmp_path / "no-data-home" / "fashion-mnist") in message


def test_fashion_mnist_found_in_cache_after_debian(tmp_path, no_debian):
    _make_idx_folder(tmp_path / "no-data-home" / "fashion-mnist", n_train=12)
    assert load_fashion_mnist().X_train.shape == (12, 784)
    _make_idx_folder(tmp_path / "elsewhere", n_train=14)
    assert load_fashion_mnist(cache_dir=tmp_path / "elsewhere").X_train.shape == (14, 784)


def test_debian_folder_comes_before_cache(tmp_path, monkeypatch):
    _make_idx_folder(tmp_path / "debian", n_train=16)
    _make_idx_folder(tmp_path / "cache", n_train=12)
    monkeypatch.setattr(sets, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "debian")
    assert load_fashion_mnist(cache_dir=tmp_path / "cache").X_train.shape == (16, 784)


def test_fashion_mnist_count_mismatch(tmp_path):
    _make_idx_folder(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(9, dtype=np.uint8))
    with pytest.raises(ValueError, match="has 10 images but t10k-labels-idx1-ubyte has 9 labels"):
        load_fashion_mnist(tmp_path)


def test_fashion_mnist_bad_label_and_size(tmp_path):
    _make_idx_folder(tmp_path / "a")
    write_idx(tmp_path / "a" / "t10k-labels-idx1-ubyte", np.full(10, 10, dtype=np.uint8))
    with pytest.raises(ValueError, match="labels are 0..9, found label 10"):
        load_fashion_mnist(tmp_path / "a")
    _make_idx_folder(tmp_path / "b", shape=(27, 27))
    with pytest.raises(ValueError, match=r"images are 28x28, found \(27, 27\)"):
        load_fashion_mnist(tmp_path / "b")


def test_fashion_mnist_corrupt_file(tmp_path):
    _make_idx_folder(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        load_fashion_mnist(tmp_path)


@pytest.mark.skipif(
    not sets.DEBIAN_FASHION_MNIST_DIR.is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_real_fashion_mnist_from_debian():
    data = load_fashion_mnist()
    assert data.X_train.shape == (60000, 784) and data.X_test.shape == (10000, 784)
    assert data.X_train.dtype == np.float32
    assert data.X_train.min() == 0.0 and data.X_train.max() == 1.0
    np.testing.assert_array_equal(np.bincount(data.y_train), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(data.y_test), np.full(10, 1000))
    assert data.y_train[:5].tolist() == [9, 0, 0, 3, 0]  # as in the upstream README's figure


def test_idx_folder_any_shape(tmp_path):
    arrays = _make_idx_folder(tmp_path / "mnist-like", n_train=6, n_test=4, shape=(5, 3))
    data = load_idx_folder(tmp_path / "mnist-like", dtype=np.float64)
    assert data.name == "mnist-like"
    assert data.X_train.shape == (6, 15) and data.image_shape == (5, 3)
    assert data.X_train.dtype == np.float64
    # training labels 0..5, test labels 0, 3, 6, 9: the classes are the labels present
    assert data.class_names == ("0", "1", "2", "3", "4", "5", "6", "9")
    assert data.y_test.tolist() == [0, 3, 6, 7]
    np.testing.assert_allclose(
        data.X_test, arrays["t10k-images-idx3-ubyte"].reshape(4, 15) / 255.0, rtol=0, atol=0
    )


def test_idx_folder_non_ubyte_images_unscaled(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.full((2, 2, 2), 3.5, dtype=np.float32))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([0, 1], dtype=np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.full((1, 2, 2), -1.0, dtype=np.float64))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1], dtype=np.int32))
    data = load_idx_folder(tmp_path)
    assert data.X_train.tolist() == [[3.5] * 4] * 2 and data.X_test.tolist() == [[-1.0] * 4]
    assert data.class_names == ("0", "1")


def test_idx_folder_refuses_float_labels(tmp_path):
    _make_idx_folder(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(10, dtype=np.float32))
    with pytest.raises(ValueError, match="integer labels"):
        load_idx_folder(tmp_path)


def test_idx_folder_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"lacks train-images-idx3-ubyte\[.gz\]"):
        load_idx_folder(tmp_path)


def test_digits_split():
    data = load_digits()
    assert data.name == "digits"
    assert data.X_train.shape == (1347, 64) and data.X_test.shape == (450, 64)
    assert data.X_train.dtype == np.float64
    assert data.X_train.min() == 0.0 and data.X_train.max() == 1.0
    assert data.image_shape == (8, 8) and data.class_names == tuple("0123456789")
    assert set(data.y_train) == set(data.y_test) == set(range(10))
    assert data.y_train.dtype == np.int64
    # stratified: each class's test share is within one sample of 1/4 of its total
    total = np.bincount(data.y_train) + np.bincount(data.y_test)
    assert np.all(np.abs(np.bincount(data.y_test) - total * 450 / 1797) <= 1)


def test_digits_are_the_sklearn_digits_scaled():
    from sklearn.datasets import load_digits as sk_load_digits

    raw = sk_load_digits()
    data = load_digits(test_size=0.5, seed=1)
    X = np.vstack([data.X_train, data.X_test]) * 16
    y = np.concatenate([data.y_train, data.y_test])

    def row_order(A, b):
        return np.lexsort(np.column_stack([A, b]).T)

    np.testing.assert_array_equal(X[row_order(X, y)], raw.data[row_order(raw.data, raw.target)])


def test_digits_deterministic_by_seed():
    a, b, c = load_digits(seed=7), load_digits(seed=7), load_digits(seed=8)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.y_test, c.y_test)


def test_digits_options():
    data = load_digits(test_size=0.1, dtype=np.float32)
    assert data.X_test.shape == (180, 64) and data.X_train.dtype == np.float32
    with pytest.raises(ValueError, match="test_size"):
        load_digits(test_size=1.0)


def test_dataset_checks_shapes():
    X, y = np.zeros((3, 4)), np.zeros(3, dtype=np.int64)
    with pytest.raises(ValueError, match="X_test must be"):
        Dataset("d", X, y, X, y[:2], None, ("a",))
    with pytest.raises(ValueError, match=r"image_shape \(3, 3\) does not hold 4 features"):
        Dataset("d", X, y, X, y, (3, 3), ("a",))
    assert "X_train=(3, 4) float64" in repr(Dataset("d", X, y, X, y, (2, 2), ("a",)))


def test_facade_exports():
    for name in datasets.__all__:
        assert getattr(datasets, name) is not None
    assert {
        "read_idx",
        "write_idx",
        "Dataset",
        "load_digits",
        "load_fashion_mnist",
        "load_idx_folder",
        "download_fashion_mnist",
        "one_hot",
        "stratified_split",
        "split",
        "split_indices",
        "read_csv",
    } <= set(datasets.__all__)


def test_idx_classes_are_the_labels_present(tmp_path):
    # a 1-label file holding 2**31 - 1 made 2**31 class names (7.7 GB) before
    _make_idx_folder(tmp_path, n_train=4, n_test=2)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([7, 2, 2**31 - 1, 7], np.int32))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([2, 2**31 - 1], np.int32))
    data = load_idx_folder(tmp_path)
    assert data.class_names == ("2", "7", "2147483647")
    assert data.y_train.tolist() == [1, 0, 2, 1] and data.y_test.tolist() == [0, 2]
    assert data.y_train.dtype == np.int64


def test_fashion_mnist_names_follow_the_labels_present(tmp_path):
    _make_idx_folder(tmp_path, n_train=4, n_test=2)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([9, 0, 9, 0], np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 9], np.uint8))
    data = load_fashion_mnist(tmp_path)
    assert data.class_names == ("T-shirt/top", "Ankle boot")
    assert data.y_train.tolist() == [1, 0, 1, 0]
