"""Keras layers (`aiaas_core.keras.layers`)."""

import sys as _sys
import types as _types

from .activation_layers import ELU, LeakyReLU, ReLU, Softmax
from ..engine.functional import Input
from .base import InputLayer, Layer
from .conv import AveragePooling2D, AvgPool2D, Conv2D, MaxPool2D, MaxPooling2D
from .convolutional import (Conv1D, Conv1DTranspose, Conv2DTranspose, Convolution1D, Convolution1DTranspose,
                            Convolution2DTranspose)
from .core import Activation, Dense, Dropout, Flatten, Reshape
from .embedding import Embedding
from .kernelized import RandomFourierFeatures
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average,
                      concatenate, dot, maximum, minimum, multiply, subtract)
from .normalization import BatchNormalization, LayerNormalization, UnitNormalization
from .pooling import (AveragePooling1D, AvgPool1D, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAvgPool1D,
                      GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                      MaxPool1D, MaxPooling1D)
from .recurrent import GRU, LSTM, SimpleRNN
from .reshaping import (Cropping1D, Cropping2D, Permute, RepeatVector, UpSampling1D, UpSampling2D, ZeroPadding1D,
                        ZeroPadding2D)
from .utility import GaussianNoise, Identity, Lambda, Rescaling

# class_name -> class, for configs (never anything else: a config names one of these or is rejected).
# Lambda is listed so that a config naming it gets Lambda's own refusal (configs never carry code).
LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (InputLayer, Dense, Activation, Flatten, Reshape, Dropout, Conv2D, MaxPooling2D,
                AveragePooling2D, LSTM, GRU, SimpleRNN, BatchNormalization, Embedding, ReLU, LeakyReLU, ELU, Softmax,
                Conv2DTranspose, Conv1DTranspose, Conv1D, MaxPooling1D, AveragePooling1D, GlobalAveragePooling2D,
                GlobalMaxPooling2D, GlobalAveragePooling1D, GlobalMaxPooling1D, UpSampling1D, UpSampling2D,
                ZeroPadding1D, ZeroPadding2D, Cropping1D, Cropping2D, Permute, RepeatVector, Concatenate, Add,
                Subtract, Multiply, Average, Maximum, Minimum, Dot, LayerNormalization, UnitNormalization, Identity,
                Rescaling, GaussianNoise, Lambda, RandomFourierFeatures)
}
LAYER_CLASSES.update(MaxPool2D=MaxPooling2D, AvgPool2D=AveragePooling2D, MaxPool1D=MaxPooling1D,
                     AvgPool1D=AveragePooling1D, GlobalAvgPool2D=GlobalAveragePooling2D,
                     GlobalMaxPool2D=GlobalMaxPooling2D, GlobalAvgPool1D=GlobalAveragePooling1D,
                     GlobalMaxPool1D=GlobalMaxPooling1D, Convolution1D=Conv1D,
                     Convolution2DTranspose=Conv2DTranspose, Convolution1DTranspose=Conv1DTranspose)

# Functional forms of the merge layers (keras.layers.concatenate([a, b]) ...)
MERGE_FUNCTIONS = ("add", "average", "concatenate", "dot", "maximum", "minimum", "multiply", "subtract")

__all__ = ["Layer", "Input", "InputLayer", *sorted(LAYER_CLASSES), *MERGE_FUNCTIONS]

# tf.keras 2's `keras.layers.experimental` (where RandomFourierFeatures lives)
experimental = _types.ModuleType(f"{__name__}.experimental", "tf.keras 2's keras.layers.experimental")
experimental.RandomFourierFeatures = RandomFourierFeatures
_sys.modules.setdefault(f"{__name__}.experimental", experimental)
