"""`keras.utils.PyDataset` (and its older name `keras.utils.Sequence`): batches computed by Python
code, addressed by index, which `fit`, `evaluate` and `predict` read in order (fit shuffles the
batch order each epoch when `shuffle=True`, as Keras 3 does)."""

from __future__ import annotations


class PyDataset:
    """Subclass it and implement `__len__` (the number of batches) and `__getitem__(index)` (one
    batch: `x`, `(x, y)` or `(x, y, sample_weight)`). For an endless dataset, leave out `__len__`
    and make `num_batches` return None. `on_epoch_begin` / `on_epoch_end` run around every epoch.

    `workers`, `use_multiprocessing` and `max_queue_size` are accepted so Keras programs run, and
    kept as attributes, but batches are always produced in the training thread: the Rust kernels
    already use every core during a step, so loader threads would compete with them, and worker
    processes would need the dataset pickled, which this project never does.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index) returning one batch")

    @property
    def num_batches(self):
        """The number of batches (`len(self)`), or None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            f"{type(self).__name__} must implement __len__ (the number of batches), or a num_batches property "
            "that returns None for an endless dataset"
        )

    def on_epoch_begin(self):
        """Called before every epoch."""

    def on_epoch_end(self):
        """Called after every epoch (reshuffle your samples here, for example)."""

    def __iter__(self):
        n = self.num_batches
        i = 0
        while n is None or i < n:
            yield self[i]
            i += 1


Sequence = PyDataset

__all__ = ["PyDataset", "Sequence"]
