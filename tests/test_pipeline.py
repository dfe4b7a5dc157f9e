"""End to end: audio files -> tokenize -> TFRecords -> token_dataset -> fit ->
generate -> decode -> audio file, with a tiny codec and model."""

import numpy as np

import keras_soundstorm as kss
from keras_soundstorm import cli
from keras_soundstorm.codecs import SoundStream
from keras_soundstorm.data import read_token_metadata, synthesize, token_dataset


def test_audio_to_tokens_to_model_to_audio(tmp_path):
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    for i, (text, voice) in enumerate(
        [("hello there", "en-us+m3/p50/r180"), ("good day", "en+f2/p65/r150")]
    ):
        utterance = synthesize(text, voice)
        kss.audio.save(str(audio_dir / f"{i}.wav"), utterance.waveform, utterance.sample_rate)

    codec = SoundStream(channels=8, latent_dim=16, num_levels=4, codebook_size=64, seed=0)
    codec.save_to_preset(str(tmp_path / "codec"))
    prefix = str(tmp_path / "records" / "speech")
    cli.main(
        [
            "tokenize",
            "--codec",
            str(tmp_path / "codec"),
            "--audio-dir",
            str(audio_dir),
            "--output",
            prefix,
            "--num-shards",
            "2",
        ]
    )
    meta = read_token_metadata(prefix)
    assert meta["num_levels"] == 4 and meta["codebook_size"] == 64

    dataset = token_dataset(prefix, batch_size=2, max_frames=32, seed=0, repeat=True)
    backbone = kss.SoundStormBackbone(
        num_levels=4,
        codebook_size=64,
        conditioning_vocabulary_size=0,
        conditioning_rate_ratio=1,
        hidden_dim=32,
        num_layers=1,
        num_heads=2,
        intermediate_dim=64,
    )
    model = kss.SoundStorm(backbone, seed=0)
    history = model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()

    codes = model.generate(num_frames=25, steps_per_level=(4, 1, 1, 1), seed=0)
    waveform = codec.decode(codes)[0]
    assert waveform.shape == (25 * codec.hop_length,) and np.isfinite(waveform).all()
    out = str(tmp_path / "generated.wav")
    kss.audio.save(out, np.clip(waveform, -1, 1), codec.sample_rate)
    loaded, rate = kss.audio.load(out)
    assert rate == codec.sample_rate and loaded.shape == waveform.shape
