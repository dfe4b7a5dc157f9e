"""SoundStream codec: shapes, quantizer state updates, training, presets, errors.

Runs on the backend named by KERAS_BACKEND. One tiny codec is trained once per
module (compiling a training step is the slow part) and shared by the tests
that need a trained model.
"""

import json
import os

import keras
import numpy as np
import pytest
from conftest import MICRO_CODEC

from keras_soundstorm.codecs import ResidualVectorQuantizer, SoundStream

# One residual unit per stage (the codec's default is three, dilations 1, 3, 9):
# it halves the time spent compiling the training step.
TINY = dict(
    channels=8,
    latent_dim=16,
    strides=(2, 4, 5, 8),
    num_levels=4,
    codebook_size=64,
    dilations=(1,),
    fft_sizes=(64, 256),
    seed=0,
)
TRAIN_STEPS = 10


def tones(batch, samples, sample_rate=16000, seed=0):
    """Harmonic tones with random pitch: float32 `[batch, samples]`."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sample_rate
    pitch = rng.uniform(100, 400, (batch, 1))
    wave = sum(np.sin(2 * np.pi * k * pitch * t) / k for k in (1, 2, 3))
    return (0.3 * wave).astype("float32")


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def gradients(losses_fn, variables):
    """`grads[i][j]` = d losses_fn()[i] / d variables[j], numpy (0 if unconnected).

    `losses_fn` returns a 1-D tensor of losses; one compiled function on JAX.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def stateless(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return losses_fn()

        jacobian = jax.jit(jax.jacrev(stateless))([v.value for v in variables])
        count = jacobian[0].shape[0]
        grads = [[jacobian[j][i] for j in range(len(variables))] for i in range(count)]
    elif backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape(persistent=True) as tape:
            losses = losses_fn()
            count = losses.shape[0]
            per_loss = [losses[i] for i in range(count)]
        grads = [tape.gradient(loss, [v.value for v in variables]) for loss in per_loss]
    else:
        import torch

        losses = losses_fn()
        grads = [
            torch.autograd.grad(
                losses[i],
                [v.value for v in variables],
                retain_graph=True,
                allow_unused=True,
            )
            for i in range(losses.shape[0])
        ]
    return [
        [np.zeros(v.shape, "float32") if g is None else numpy(g) for g, v in zip(row, variables)]
        for row in grads
    ]


@pytest.fixture(scope="module")
def trained():
    """A tiny codec, its state before training, and its fit histories."""
    codec = SoundStream(**TINY)
    waveform = tones(4, 2560)
    before = {
        "codebooks": numpy(codec.quantizer.codebooks).copy(),
        "encoder_kernel": numpy(codec.encoder.output_conv.kernel).copy(),
    }
    codec.compile(optimizer=keras.optimizers.Adam(3e-3, beta_1=0.5, beta_2=0.9))
    first = codec.fit(waveform, batch_size=4, epochs=1, verbose=0)
    after_one = {
        "codebooks": numpy(codec.quantizer.codebooks).copy(),
        "cluster_size": numpy(codec.quantizer.ema_cluster_size).copy(),
        "num_updates": float(numpy(codec.quantizer.num_updates)),
    }
    rest = codec.fit(waveform, batch_size=4, epochs=TRAIN_STEPS - 1, verbose=0)
    return dict(
        codec=codec,
        waveform=waveform,
        before=before,
        after_one=after_one,
        history={k: first.history[k] + rest.history[k] for k in rest.history},
    )


@pytest.fixture(scope="module")
def micro():
    return SoundStream(**MICRO_CODEC)


@pytest.fixture(scope="module")
def adversarial():
    return SoundStream(
        **MICRO_CODEC, adversarial=True, discriminator_channels=4, discriminator_fft_size=64
    )


# --- Shapes and API ---------------------------------------------------------


def test_properties_and_shapes(trained):
    codec = trained["codec"]
    assert codec.hop_length == 320
    assert codec.frame_rate == 50.0
    assert codec.sample_rate == 16000
    assert (codec.num_levels, codec.codebook_size) == (4, 64)
    waveform = tones(3, 1000)  # not a multiple of the hop: padded to 4 frames
    codes = codec.encode(waveform)
    assert codes.shape == (3, 4, 4) and codes.dtype == np.int32
    assert codes.min() >= 0 and codes.max() < 64
    audio = codec.decode(codes)
    assert audio.shape == (3, 4 * 320) and audio.dtype == np.float32
    assert np.isfinite(audio).all()


def test_fewer_levels_are_a_prefix_of_all_levels(trained):
    codec, waveform = trained["codec"], trained["waveform"]
    codes = codec.encode(waveform)
    two = codec.encode(waveform, num_levels=2)
    assert two.shape == (4, 8, 2)
    np.testing.assert_array_equal(two, codes[:, :, :2])
    np.testing.assert_allclose(
        codec.decode(codes, num_levels=2), codec.decode(two), rtol=1e-5, atol=1e-5
    )


def test_config_round_trip(adversarial):
    clone = SoundStream.from_config(adversarial.get_config())
    assert clone.get_config() == adversarial.get_config()
    assert clone.count_params() == adversarial.count_params()
    assert clone.discriminator is not None


# --- Quantizer --------------------------------------------------------------


def test_dead_code_is_restarted_with_a_batch_frame():
    quantizer = ResidualVectorQuantizer(2, 16, quantizer_dropout=0.0, seed=1)
    latents = np.random.default_rng(0).normal(size=(4, 32, 8)).astype("float32")
    quantizer(latents, training=True)  # initialises from the batch
    codebooks = numpy(quantizer.codebooks).copy()
    usage = numpy(quantizer.ema_usage).copy()
    codebooks[0, 3] = 100.0  # far from every frame: never chosen
    usage[0, 3] = 0.0
    quantizer.codebooks.assign(codebooks)
    quantizer.ema_usage.assign(usage)

    quantizer(latents, training=True)
    restarted = numpy(quantizer.codebooks)[0, 3]
    distances = np.linalg.norm(latents.reshape(-1, 8) - restarted, axis=1)
    assert distances.min() < 1e-5, "the dead code must become one of the frames"
    usage = numpy(quantizer.ema_usage)[0]
    assert usage[3] > 0.5 * usage.mean(), "a restarted code gets an average usage"


def test_quantizer_dropout_uses_fewer_levels_per_example():
    quantizer = ResidualVectorQuantizer(4, 16, quantizer_dropout=1.0, seed=2)
    latents = np.random.default_rng(1).normal(size=(64, 3, 8)).astype("float32")
    quantizer(latents, training=True)  # initialisation
    codebooks = numpy(quantizer.codebooks).copy()
    outputs = quantizer(latents, training=True)
    levels = numpy(outputs["num_active_levels"])
    assert set(levels.tolist()) == {1, 2, 3, 4}
    codes, quantized = numpy(outputs["codes"]), numpy(outputs["quantized"])
    for example in range(64):
        expected = sum(
            codebooks[level][codes[example, :, level]] for level in range(levels[example])
        )
        np.testing.assert_allclose(quantized[example], expected, rtol=1e-5, atol=1e-5)

    inference = quantizer(latents, training=False)
    assert (numpy(inference["num_active_levels"]) == 4).all()


def test_frozen_quantizer_drops_levels_but_keeps_its_codebooks():
    quantizer = ResidualVectorQuantizer(4, 16, quantizer_dropout=1.0, seed=2)
    latents = np.random.default_rng(1).normal(size=(64, 3, 8)).astype("float32")
    quantizer(latents, training=True)  # initialisation
    state = [numpy(v).copy() for v in quantizer.weights]
    quantizer.trainable = False
    outputs = quantizer(latents * 3.0, training=True)
    assert set(numpy(outputs["num_active_levels"]).tolist()) == {1, 2, 3, 4}
    for before, variable in zip(state, quantizer.weights):
        np.testing.assert_array_equal(numpy(variable), before, err_msg=variable.path)
    quantizer.trainable = True
    quantizer(latents * 3.0, training=True)
    assert not np.allclose(numpy(quantizer.codebooks), state[0])


def test_decoder_fine_tuning_keeps_every_token():
    """Frozen encoder + quantizer (train_codec.py --train decoder): same codes, new decoder."""
    codec = SoundStream(**{**TINY, "fft_sizes": (64,)}, **SPECTRAL)
    waveforms = np.random.default_rng(0).normal(0, 0.1, (4, 960)).astype("float32")
    codec.compile()
    codec.fit(waveforms, batch_size=2, epochs=1, verbose=0)
    codes = codec.encode(waveforms)
    decoder_before = [numpy(v).copy() for v in codec.decoder.weights]
    codec.encoder.trainable = False
    codec.quantizer.trainable = False
    codec.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = codec.fit(waveforms, batch_size=2, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    np.testing.assert_array_equal(codec.encode(waveforms), codes)
    changed = [
        not np.allclose(numpy(v), before)
        for v, before in zip(codec.decoder.weights, decoder_before)
    ]
    assert any(changed), "the decoder must train"


def test_straight_through_gradient_reaches_the_encoder(micro):
    waveform = keras.ops.convert_to_tensor(tones(2, 256))
    kernel = micro.encoder.output_conv.kernel
    # Reconstruction loss only: without the straight-through estimator the
    # encoder would get no gradient at all from it.
    [[grad]] = gradients(
        lambda: keras.ops.stack([micro(waveform)["reconstruction_loss"]]), [kernel]
    )
    assert np.isfinite(grad).all()
    assert np.abs(grad).max() > 0


# --- Training ---------------------------------------------------------------


def test_ema_updates_codebooks_inside_fit(trained):
    before, after_one = trained["before"], trained["after_one"]
    assert after_one["num_updates"] == 1.0
    assert float(numpy(trained["codec"].quantizer.num_updates)) == TRAIN_STEPS
    assert not np.allclose(after_one["codebooks"], before["codebooks"])
    assert after_one["cluster_size"].sum() > 0
    final = numpy(trained["codec"].quantizer.codebooks)
    assert not np.allclose(final, after_one["codebooks"]), "EMA must keep updating"


def test_fit_reduces_the_loss_and_reports_usage(trained):
    history = trained["history"]
    assert len(history["loss"]) == TRAIN_STEPS
    assert np.isfinite(history["loss"]).all()
    reconstruction = history["reconstruction_loss"]
    assert np.mean(reconstruction[-3:]) < 0.8 * reconstruction[0]
    for level in range(1, 5):
        assert 1.0 <= history[f"perplexity_{level}"][-1] <= 64.0
    encoder_kernel = numpy(trained["codec"].encoder.output_conv.kernel)
    assert not np.allclose(encoder_kernel, trained["before"]["encoder_kernel"])


LOSS_NAMES = ("generator_loss", "feature_matching_loss", "discriminator_loss")


def test_adversarial_losses_reach_only_their_own_network(adversarial):
    waveform = tones(2, 512)
    tensor = keras.ops.convert_to_tensor(waveform)
    critic = adversarial.discriminator.convs[1].kernel
    encoder = adversarial.encoder.output_conv.kernel

    def losses():
        outputs = adversarial(tensor, training=True)
        return keras.ops.stack([outputs[name] for name in LOSS_NAMES])

    grads = dict(zip(LOSS_NAMES, gradients(losses, [encoder, critic])))
    for name in ("generator_loss", "feature_matching_loss"):
        assert np.abs(grads[name][0]).max() > 0, name
        assert np.abs(grads[name][1]).max() == 0, name
    assert np.abs(grads["discriminator_loss"][0]).max() == 0
    assert np.abs(grads["discriminator_loss"][1]).max() > 0

    before = numpy(critic).copy()
    adversarial.compile()
    history = adversarial.fit(waveform, batch_size=2, epochs=2, verbose=0).history
    for name in LOSS_NAMES:
        assert np.isfinite(history[name]).all()
    assert not np.allclose(numpy(critic), before)


# --- Presets ----------------------------------------------------------------


def test_preset_round_trip_gives_identical_codes(trained, tmp_path):
    codec, waveform = trained["codec"], trained["waveform"]
    preset = tmp_path / "codec"
    codec.save_to_preset(preset)
    assert sorted(os.listdir(preset)) == ["config.json", "metadata.json", "model.weights.h5"]
    with open(preset / "config.json") as f:
        assert json.load(f)["registered_name"] == "keras_soundstorm>SoundStream"
    loaded = SoundStream.from_preset(preset)
    codes = codec.encode(waveform)
    np.testing.assert_array_equal(loaded.encode(waveform), codes)
    np.testing.assert_allclose(loaded.decode(codes), codec.decode(codes), atol=1e-5)


def test_hub_handles_are_downloaded_then_loaded(micro, tmp_path, monkeypatch):
    """`hf://` and `kaggle://` handles go to huggingface_hub / kagglehub (faked here:
    no internet), and the directory they return is loaded."""
    import huggingface_hub
    import kagglehub

    micro.save_to_preset(tmp_path / "codec")
    asked = []
    monkeypatch.setattr(
        huggingface_hub,
        "snapshot_download",
        lambda repo_id: asked.append(repo_id) or str(tmp_path / "codec"),
    )
    monkeypatch.setattr(
        kagglehub, "model_download", lambda handle: asked.append(handle) or str(tmp_path / "codec")
    )
    for handle in ("hf://someone/codec", "kaggle://someone/codec/keras/v1"):
        loaded = SoundStream.from_preset(handle)
        assert loaded.count_params() == micro.count_params()
    assert asked == ["someone/codec", "someone/codec/keras/v1"]


def test_failed_save_keeps_the_previous_preset(micro, tmp_path, monkeypatch):
    preset = tmp_path / "codec"
    micro.save_to_preset(preset)
    with open(preset / "config.json") as f:
        saved = f.read()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(keras.saving, "save_weights", broken)
    with pytest.raises(OSError, match="disk full"):
        micro.save_to_preset(preset)
    assert sorted(os.listdir(tmp_path)) == ["codec"]
    with open(preset / "config.json") as f:
        assert f.read() == saved
    SoundStream.from_preset(preset)


# --- Bad input --------------------------------------------------------------


def test_bad_waveforms_are_rejected(micro):
    good = tones(1, 64)
    nan = good.copy()
    nan[0, 3] = np.nan
    for waveform, message in [
        (good[0], "shape \\[batch, samples\\]"),
        (good[:, :, None], "shape \\[batch, samples\\]"),
        ((good * 32768).astype("int16"), "floating point"),
        (np.zeros((1, 0), "float32"), "must not be empty"),
        (nan, "NaN"),
    ]:
        with pytest.raises(ValueError, match=message):
            micro.encode(waveform)
    for levels in (0, 3, True):
        with pytest.raises(ValueError, match="num_levels"):
            micro.encode(good, num_levels=levels)
    with pytest.raises(ValueError, match="shape \\[batch, samples\\]"):
        micro.fit(good[:, :, None], epochs=1)
    with pytest.raises(ValueError, match="y=None"):
        micro.fit(good, good, epochs=1)


def test_bad_codes_are_rejected(micro):
    codes = np.zeros((1, 4, 2), "int32")
    for bad, message in [
        (codes - 1, "must be in \\[0, 16\\)"),
        (codes + 16, "must be in \\[0, 16\\)"),
        (codes[0], "shape \\[batch, frames, levels\\]"),
        (codes.astype("float32"), "integers"),
        (np.zeros((1, 4, 3), "int32"), "only 2"),
    ]:
        with pytest.raises(ValueError, match=message):
            micro.decode(bad)
    with pytest.raises(ValueError, match="num_levels"):
        micro.decode(codes[:, :, :1], num_levels=2)


def test_bad_presets_and_configs_are_rejected(micro, tmp_path):
    with pytest.raises(ValueError, match="nor an existing directory"):
        SoundStream.from_preset(tmp_path / "missing")
    micro.save_to_preset(tmp_path / "codec")
    os.remove(tmp_path / "codec" / "model.weights.h5")
    with pytest.raises(ValueError, match="missing model.weights.h5"):
        SoundStream.from_preset(tmp_path / "codec")
    with open(tmp_path / "codec" / "config.json", "w") as f:
        json.dump({"registered_name": "keras_soundstorm>SoundStormBackbone"}, f)
    open(tmp_path / "codec" / "model.weights.h5", "w").close()
    with pytest.raises(ValueError, match="not a 'keras_soundstorm>SoundStream'"):
        SoundStream.from_preset(tmp_path / "codec")
    with pytest.raises(ValueError, match="unknown scheme"):
        SoundStream.from_preset("s3://someone/codec")
    for kwargs, message in [
        (dict(strides=(2, 0)), "strides"),
        (dict(quantizer_dropout=1.5), "quantizer_dropout"),
        (dict(codebook_size=1), "codebook_size"),
        (dict(ema_decay=1.0), "ema_decay"),
    ]:
        with pytest.raises(ValueError, match=message):
            SoundStream(**{**MICRO_CODEC, **kwargs})


def test_overlap_add_sums_frames_hop_apart():
    from keras_soundstorm.codecs.spectral import overlap_add

    hop = 3
    frames = np.arange(2 * 5 * 4 * hop, dtype="float32").reshape(2, 5, 4 * hop)
    expected = np.zeros((2, (5 + 3) * hop), "float32")
    for t in range(5):
        expected[:, t * hop : t * hop + 4 * hop] += frames[:, t]
    got = keras.ops.convert_to_numpy(overlap_add(keras.ops.convert_to_tensor(frames), hop))
    np.testing.assert_allclose(got, expected)


def test_inverse_stft_inverts_the_loss_stft():
    from keras_soundstorm.codecs.losses import stft
    from keras_soundstorm.codecs.spectral import inverse_stft

    fft_size, hop = 64, 16
    waveform = np.random.default_rng(0).normal(size=(2, 40 * hop)).astype("float32")
    real, imag = stft(keras.ops.convert_to_tensor(waveform), fft_size)
    real, imag = keras.ops.convert_to_numpy(real)[:, :40], keras.ops.convert_to_numpy(imag)[:, :40]
    log_magnitude = np.log(np.sqrt(real**2 + imag**2) + 1e-12)
    rebuilt = keras.ops.convert_to_numpy(
        inverse_stft(log_magnitude, np.arctan2(imag, real), fft_size)
    )
    assert rebuilt.shape == waveform.shape
    # Exact wherever all four overlapping frames are predicted (not the edges).
    np.testing.assert_allclose(rebuilt[:, hop : -3 * hop], waveform[:, hop : -3 * hop], atol=1e-4)
    assert np.abs(rebuilt[:, -hop:] - waveform[:, -hop:]).max() > 1e-2


def test_log_magnitude_loss_is_zero_only_for_the_input_spectrum():
    from keras_soundstorm.codecs.losses import log_magnitude_loss, stft

    waveform = np.random.default_rng(1).normal(size=(2, 640)).astype("float32")
    real, imag = stft(keras.ops.convert_to_tensor(waveform), 64)
    log_magnitude = np.log(
        np.sqrt(keras.ops.convert_to_numpy(real) ** 2 + keras.ops.convert_to_numpy(imag) ** 2)
    )[:, :40]
    assert float(log_magnitude_loss(waveform, log_magnitude, 64)) < 1e-4
    assert float(log_magnitude_loss(waveform, log_magnitude + 0.5, 64)) > 0.4


def mel_test_signals():
    """A noisy 220 Hz tone and noise, and a noisier copy: float32 `[2, 8000]` each."""
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(8000)
    target = np.stack([tone, 0.1 * rng.standard_normal(8000)]).astype("float32")
    prediction = (target + 0.05 * rng.standard_normal(target.shape)).astype("float32")
    return target, prediction


def test_multi_scale_mel_loss_is_unchanged_by_the_shared_filterbank():
    from keras_soundstorm.codecs import mel_filterbank, multi_scale_mel_loss
    from keras_soundstorm.utils import mel

    assert mel_filterbank is mel.mel_filterbank
    target, prediction = mel_test_signals()
    # Computed with the codec's own float32 filterbank (linspace bin frequencies)
    # before the codec and MCD filterbanks were merged into `utils.mel`.
    loss = multi_scale_mel_loss(target, prediction, 16000, (64, 256, 1024))
    assert float(loss) == pytest.approx(0.3151579797267914, rel=1e-5)
    loss = multi_scale_mel_loss(target, prediction, 24000, (128, 512), num_mels=80)
    assert float(loss) == pytest.approx(0.32954129576683044, rel=1e-5)


SPECTRAL = dict(
    encoder="stft",
    encoder_hidden_dim=16,
    encoder_num_blocks=1,
    decoder="istft",
    decoder_hidden_dim=16,
    decoder_num_blocks=1,
)


def test_spectral_codec_trains_and_round_trips(tmp_path):
    from keras_soundstorm.codecs import ISTFTDecoder, STFTEncoder

    codec = SoundStream(**{**TINY, "fft_sizes": (64,)}, **SPECTRAL)
    assert isinstance(codec.encoder, STFTEncoder)
    assert isinstance(codec.decoder, ISTFTDecoder)
    assert codec.decoder.fft_size == 4 * 320 // 2
    waveforms = np.random.default_rng(0).normal(0, 0.1, (4, 960)).astype("float32")
    codec.compile()
    history = codec.fit(waveforms, batch_size=2, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert np.isfinite(history.history["magnitude_loss"]).all()
    codes = codec.encode(waveforms[:2])
    assert codes.shape == (2, 3, 4)
    audio = codec.decode(codes)
    assert audio.shape == (2, 960) and np.isfinite(audio).all()
    codec.save_to_preset(str(tmp_path / "codec"))
    loaded = SoundStream.from_preset(str(tmp_path / "codec"))
    assert (loaded.encoder_kind, loaded.decoder_kind) == ("stft", "istft")
    np.testing.assert_array_equal(loaded.encode(waveforms[:2]), codes)
    np.testing.assert_allclose(loaded.decode(codes), audio, atol=1e-5)


def test_spectral_codec_options_are_checked():
    with pytest.raises(ValueError, match="Unknown `decoder` 'wavenet'"):
        SoundStream(**TINY, decoder="wavenet")
    with pytest.raises(ValueError, match="Unknown `encoder` 'mfcc'"):
        SoundStream(**TINY, encoder="mfcc")
    with pytest.raises(ValueError, match="`stft_frames_per_frame` \\(3\\) must divide"):
        SoundStream(**TINY, **SPECTRAL, stft_frames_per_frame=3)
