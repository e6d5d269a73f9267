"""MNIST, verified from several sources, cached, split 50k/10k/10k and normalized with train statistics."""

from mnist_scratch.data.api import SOURCES, DataReport, load_dataset, prepare_dataset
from mnist_scratch.data.cache import cache_root
from mnist_scratch.data.check import FileFact
from mnist_scratch.data.pins import OFFICIAL, Net, Pins
from mnist_scratch.data.split import Dataset

__all__ = ["OFFICIAL", "SOURCES", "DataReport", "Dataset", "FileFact", "Net", "Pins", "cache_root", "load_dataset",
           "prepare_dataset"]
