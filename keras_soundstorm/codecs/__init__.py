"""Neural audio codecs: SoundStream, SpeechTokenizer and their layers.

Every codec subclasses `ResidualCodec` (`codecs/base.py`); EnCodec-style
layers live in `encodec_layers.py`, both quantizers in `quantizer.py`.
"""

from keras_soundstorm.codecs.base import ResidualCodec, load_codec
from keras_soundstorm.codecs.benchmark import codec_throughput
from keras_soundstorm.codecs.discriminator import STFTDiscriminator
from keras_soundstorm.codecs.encodec_layers import (
    EncodecDecoder,
    EncodecEncoder,
    ReflectConv1D,
    SEANetResidualBlock,
    SkipLSTM,
    TrimmedConv1DTranspose,
)
from keras_soundstorm.codecs.losses import multi_scale_mel_loss
from keras_soundstorm.codecs.quantizer import EuclideanResidualQuantizer, ResidualVectorQuantizer
from keras_soundstorm.codecs.seanet import ResidualUnit, SEANetDecoder, SEANetEncoder
from keras_soundstorm.codecs.soundstream import SoundStream
from keras_soundstorm.codecs.spectral import ConvNeXtBlock, ISTFTDecoder, STFTEncoder
from keras_soundstorm.codecs.speechtokenizer import SpeechTokenizer
from keras_soundstorm.utils.mel import mel_filterbank

# The names SpeechTokenizer's stacks had before they were shared.
SpeechTokenizerEncoder = EncodecEncoder
SpeechTokenizerDecoder = EncodecDecoder

__all__ = [
    "ConvNeXtBlock",
    "EncodecDecoder",
    "EncodecEncoder",
    "EuclideanResidualQuantizer",
    "ISTFTDecoder",
    "ReflectConv1D",
    "ResidualCodec",
    "ResidualUnit",
    "ResidualVectorQuantizer",
    "SEANetResidualBlock",
    "SEANetDecoder",
    "SEANetEncoder",
    "SkipLSTM",
    "STFTDiscriminator",
    "STFTEncoder",
    "SoundStream",
    "SpeechTokenizer",
    "SpeechTokenizerDecoder",
    "SpeechTokenizerEncoder",
    "TrimmedConv1DTranspose",
    "codec_throughput",
    "load_codec",
    "mel_filterbank",
    "multi_scale_mel_loss",
]
