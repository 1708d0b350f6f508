"""Data preparation (the seeds' 数据预处理): loading, cleaning, splitting, scaling, label encoding,
and TensorFlow's input pipelines: `import aiaas_core as tf` makes this module `tf.data`, so
`tf.data.Dataset`, `tf.data.AUTOTUNE` and `tf.data.experimental` are here too.

The loaders return plain numpy arrays: features float32, class ids int64.
"""

from .csv_loader import load_csv
from .idx import load_digits_fallback, load_idx, load_mnist
from .labels import decode_labels, encode_labels, one_hot, to_categorical
from .missing import MissingValueImputer, handle_missing
from .npz_loader import load_npz
from .preprocessor import Pipeline, Preprocessor, preprocessor_from_config
from .scalers import MinMaxScaler, StandardScaler
from .split import train_test_split

# Last: the Dataset reads the global seed from aiaas_core.keras.backend, and importing that
# package imports data.labels / data.idx, which must be loaded by then.
from .dataset import (AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset, Options, TensorSpec,  # noqa: E402
                      experimental)

__all__ = [
    "load_csv", "load_npz", "load_idx", "load_mnist", "load_digits_fallback",
    "train_test_split", "StandardScaler", "MinMaxScaler", "MissingValueImputer",
    "handle_missing", "Preprocessor", "Pipeline", "preprocessor_from_config",
    "one_hot", "to_categorical", "encode_labels", "decode_labels",
    "Dataset", "TensorSpec", "Options", "AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "experimental",
]
