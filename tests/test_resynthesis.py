"""Voice-prompted resynthesis (`kss.pipelines.resynthesize` and the CLI) with tiny random models.

The pair has the converted checkpoints' architecture (lucidrains Conformer
options, level heads with a projection), generating codec levels 2..3 from
level 1; weights are random, so this checks the mechanics: durations,
conditioning, and windows that continue each other.
"""

import numpy as np
import pytest

import keras_soundstorm as kss
from keras_soundstorm import audio, cli, pipelines
from keras_soundstorm.codecs import SpeechTokenizer

RATE, HOP = 16000, 20  # 800 Hz frames
PROMPT_SECONDS, WINDOW_SECONDS = 0.01, 0.05  # 8 and 40 frames: 32 new frames per window


@pytest.fixture(scope="module")
def pair():
    codec = SpeechTokenizer(
        sample_rate=RATE, channels=4, latent_dim=16, semantic_dim=8, strides=(5, 4),
        num_levels=3, codebook_size=32, lstm_layers=1,
    )  # fmt: skip
    codec.encode(np.zeros((1, HOP * 4), "float32"))
    backbone = kss.SoundStormBackbone(
        num_levels=2, codebook_size=32, conditioning_vocabulary_size=32,
        conditioning_rate_ratio=1, hidden_dim=16, num_layers=1, num_heads=2,
        intermediate_dim=32, conv_kernel_size=4, conv_expansion_factor=2,
        conv_norm_type="channel_norm", attention_bias=False, even_kernel_padding="left",
    )  # fmt: skip
    model = kss.SoundStorm(backbone, head_projection=True, decoding={"steps_per_level": (2, 1)})
    return model, codec


def _noise(seconds, rate, channels=None, seed=0):
    shape = (int(seconds * rate),) + ((channels,) if channels else ())
    return (0.3 * np.random.default_rng(seed).normal(size=shape)).astype("float32")


def test_windows_continue_each_other_and_duration_is_kept(pair):
    model, codec = pair
    source = _noise(0.12, 8000, channels=2)  # 8 kHz stereo: resampled, averaged
    prompt = _noise(0.03, RATE, seed=1)
    result = pipelines.resynthesize(
        model, codec, source, prompt, source_rate=8000, prompt_seconds=PROMPT_SECONDS,
        window_seconds=WINDOW_SECONDS, seed=0, progress=False,
    )  # fmt: skip
    assert result.sample_rate == RATE
    assert len(result.waveform) == 2 * len(source)  # same duration at twice the rate
    frames = len(result.codes)
    assert frames == int(np.ceil(2 * len(source) / HOP)) == 96
    assert len(result.windows) == 3
    assert [(w["start"], w["end"]) for w in result.windows] == [(0, 32), (32, 64), (64, 96)]
    # Window 0's prompt is the voice prompt's levels 2..3; window k + 1's the end of window k's.
    voice = codec.encode(prompt[None])[0, :8, 1:]
    np.testing.assert_array_equal(result.windows[0]["prompt_codes"], voice)
    for previous, window in zip(result.windows, result.windows[1:]):
        np.testing.assert_array_equal(window["prompt_codes"], previous["codes"][-8:])
    mono = audio.resample(source.mean(axis=1), 8000, RATE).astype("float32")
    np.testing.assert_array_equal(result.codes[:, 0], codec.semantic_tokens(mono[None])[0])
    assert result.codes.min() >= 0 and result.codes.max() < 32


def test_mismatched_pair_is_rejected(pair):
    model, _ = pair
    codec = SpeechTokenizer(
        sample_rate=RATE, channels=4, latent_dim=16, semantic_dim=8, strides=(5, 4),
        num_levels=3, codebook_size=16, lstm_layers=1,
    )  # fmt: skip
    with pytest.raises(ValueError, match="codebook size"):
        pipelines.check_pair(model, codec)


def test_cli_resynthesizes_files(pair, tmp_path, capsys):
    model, codec = pair
    model.save_to_preset(str(tmp_path / "model"))
    codec.save_to_preset(str(tmp_path / "codec"))
    audio.save(str(tmp_path / "source.wav"), _noise(0.1, 22050, seed=2), 22050, clip=True)
    audio.save(str(tmp_path / "prompt.wav"), _noise(0.02, RATE, seed=3), RATE, clip=True)
    output = tmp_path / "out.wav"
    cli.main(
        [
            "resynthesize", "--model", str(tmp_path / "model"), "--codec", str(tmp_path / "codec"),
            "--source", str(tmp_path / "source.wav"), "--prompt", str(tmp_path / "prompt.wav"),
            "--output", str(output), "--prompt-seconds", str(PROMPT_SECONDS),
            "--window-seconds", str(WINDOW_SECONDS), "--steps", "2,1", "--seed", "1",
        ]
    )  # fmt: skip
    assert "window(s)" in capsys.readouterr().out
    waveform, rate = audio.load(str(output))
    assert rate == RATE
    assert abs(len(waveform) / RATE - 0.1) < 1e-3


def _bad_audio_inputs():
    source, prompt = _noise(0.05, RATE), _noise(0.02, RATE, seed=1)
    pcm = (source * 32767).astype("int16")
    yield dict(source=pcm, prompt=prompt), r"`source` must be a float waveform.*int16"
    yield dict(source=source, prompt=(prompt * 32767).astype("int32")), "`prompt` .*int32"
    stereo = _noise(0.05, RATE, channels=2)
    yield dict(source=stereo.T, prompt=prompt), "`source` has shape .*channels-first"
    yield dict(source=source, prompt=prompt, source_rate=0), "`source_rate` must be an int >= 1"
    yield dict(source=source, prompt=prompt, prompt_rate=0), "`prompt_rate` must be an int >= 1"
    yield dict(source=source, prompt=prompt[: HOP - 1]), "`prompt` is shorter than one codec frame"
    yield dict(source=source, prompt=prompt[:0]), "`prompt` .*shorter than one codec frame"


@pytest.mark.parametrize("inputs, message", list(_bad_audio_inputs()))
def test_bad_audio_inputs_are_refused(pair, inputs, message):
    """Integer PCM, channels-first arrays, a rate of 0 and a sub-frame prompt were
    resynthesized silently (clipped noise, wrong rate or averaged the wrong axis)."""
    model, codec = pair
    with pytest.raises(ValueError, match=message):
        pipelines.resynthesize(
            model, codec, prompt_seconds=PROMPT_SECONDS, window_seconds=WINDOW_SECONDS,
            progress=False, **inputs,
        )  # fmt: skip
