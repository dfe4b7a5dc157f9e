"""Neural audio codecs: SoundStream, SpeechTokenizer and their layers."""

from keras_soundstorm.codecs.benchmark import codec_throughput
from keras_soundstorm.codecs.discriminator import STFTDiscriminator
from keras_soundstorm.codecs.losses import multi_scale_mel_loss
from keras_soundstorm.codecs.quantizer import ResidualVectorQuantizer
from keras_soundstorm.codecs.seanet import ResidualUnit, SEANetDecoder, SEANetEncoder
from keras_soundstorm.codecs.soundstream import SoundStream
from keras_soundstorm.codecs.spectral import ConvNeXtBlock, ISTFTDecoder, STFTEncoder
from keras_soundstorm.codecs.speechtokenizer import SpeechTokenizer
from keras_soundstorm.codecs.speechtokenizer_layers import (
    EuclideanResidualQuantizer,
    ReflectConv1D,
    SEANetResidualBlock,
    SkipLSTM,
    SpeechTokenizerDecoder,
    SpeechTokenizerEncoder,
    TrimmedConv1DTranspose,
)
from keras_soundstorm.utils.mel import mel_filterbank

__all__ = [
    "ConvNeXtBlock",
    "EuclideanResidualQuantizer",
    "ISTFTDecoder",
    "ReflectConv1D",
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
    "mel_filterbank",
    "multi_scale_mel_loss",
]
