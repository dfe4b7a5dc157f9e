"""Old home of SpeechTokenizer's layers; they live in `encodec_layers` and `quantizer` now."""

from keras_soundstorm.codecs.encodec_layers import EncodecDecoder as SpeechTokenizerDecoder  # noqa: F401
from keras_soundstorm.codecs.encodec_layers import EncodecEncoder as SpeechTokenizerEncoder  # noqa: F401
from keras_soundstorm.codecs.encodec_layers import (  # noqa: F401
    ReflectConv1D,
    SEANetResidualBlock,
    SkipLSTM,
    TrimmedConv1DTranspose,
    reflect_pad,
)
from keras_soundstorm.codecs.quantizer import EuclideanResidualQuantizer  # noqa: F401
