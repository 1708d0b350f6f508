"""Keras layers (`aiaas_core.keras.layers`)."""

from .activation_layers import ELU, LeakyReLU, ReLU, Softmax
from ..engine.functional import Input
from .base import InputLayer, Layer
from .conv import AveragePooling2D, AvgPool2D, Conv2D, MaxPool2D, MaxPooling2D
from .core import Activation, Dense, Dropout, Flatten, Reshape
from .embedding import Embedding
from .normalization import BatchNormalization
from .recurrent import GRU, LSTM, SimpleRNN

# class_name -> class, for configs (never anything else: a config names one of these or is rejected)
LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (InputLayer, Dense, Activation, Flatten, Reshape, Dropout, Conv2D, MaxPooling2D,
                AveragePooling2D, LSTM, GRU, SimpleRNN, BatchNormalization, Embedding, ReLU, LeakyReLU, ELU, Softmax)
}
LAYER_CLASSES.update(MaxPool2D=MaxPooling2D, AvgPool2D=AveragePooling2D)

__all__ = ["Layer", "Input", "InputLayer", *sorted(LAYER_CLASSES)]
