"""Loading a codec, a SoundStorm and the matching eSpeak corpus from presets, for evaluation."""

from keras_soundstorm.models.soundstorm.prompting import check_compatible


def load_for_evaluation(model_preset, codec_preset):
    """`(model, codec, corpus)`: `model` is None when `model_preset` is None.

    The corpus is at the codec's sample and frame rates, with utterances a
    multiple of the model's conditioning rate ratio (2 without a model).
    """
    from keras_soundstorm.codecs import SoundStream
    from keras_soundstorm.data import EspeakCorpus
    from keras_soundstorm.models.soundstorm import SoundStorm

    codec = SoundStream.from_preset(codec_preset)
    model = None if model_preset is None else SoundStorm.from_preset(model_preset)
    ratio = 2 if model is None else model.backbone.conditioning_rate_ratio
    corpus = EspeakCorpus(codec.sample_rate, int(codec.frame_rate), frame_multiple=ratio)
    if model is not None:
        check_compatible(model, codec, corpus)
    return model, codec, corpus


def load_model_and_codec(model_preset, codec_preset):
    """`(model, codec)` from presets: the codec class is read from the preset's config.json.

    A `SpeechTokenizer` preset (e.g. from `kss.convert.speechtokenizer`) or a
    `SoundStream` one (a shipped name or a directory).
    """
    import json
    import os

    from keras_soundstorm.codecs import SoundStream, SpeechTokenizer
    from keras_soundstorm.models.soundstorm import SoundStorm

    codec_class = SoundStream
    config_path = os.path.join(os.fspath(codec_preset), "config.json")
    if os.path.isfile(config_path):
        try:
            with open(config_path) as file:
                registered = json.load(file).get("registered_name", "")
        except (OSError, ValueError, AttributeError):
            registered = ""
        if registered.endswith(">SpeechTokenizer"):
            codec_class = SpeechTokenizer
    return SoundStorm.from_preset(model_preset), codec_class.from_preset(codec_preset)
