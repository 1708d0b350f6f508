"""`keras.datasets`, read from local files only (nothing is downloaded at run time)."""

from . import mnist

__all__ = ["mnist"]
