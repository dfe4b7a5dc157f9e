"""SpeechTokenizer codec and its converter, against the PyPI reference (speechtokenizer 1.0.1).

The reference is built with a tiny config and random weights (every parameter
randomised; the codebooks drawn from its own encoder's outputs so that codes
are diverse), saved with `torch.save(state_dict)` and converted through
`kss.convert.speechtokenizer` and the CLI.
"""

import json
import os
import sys
import types

import numpy as np
import pytest

import keras_soundstorm as kss
from keras_soundstorm import cli
from keras_soundstorm.codecs import SpeechTokenizer

# Odd and even strides (asymmetric padding), two residual layers (dilation 2),
# a semantic projection, a bidirectional encoder LSTM.
REFERENCE_CONFIG = {
    "n_filters": 4,
    "strides": [4, 5],
    "dimension": 16,
    "semantic_dimension": 12,
    "bidirectional": True,
    "dilation_base": 2,
    "residual_kernel_size": 3,
    "n_residual_layers": 2,
    "lstm_layers": 2,
    "activation": "ELU",
    "sample_rate": 16000,
    "codebook_size": 32,
    "n_q": 3,
    "learning_rate": 1e-4,  # training keys are ignored
}
HOP = 20


def _reference_class():
    """`speechtokenizer.SpeechTokenizer` without its trainer's heavy imports."""
    pytest.importorskip("torch")
    pytest.importorskip("einops")
    if "speechtokenizer" not in sys.modules:
        # Its __init__ imports the trainer (accelerate, torchaudio, ...), unused here.
        stub = types.ModuleType("speechtokenizer.trainer")
        stub.SpeechTokenizerTrainer = None
        sys.modules.setdefault("speechtokenizer.trainer", stub)
    module = pytest.importorskip("speechtokenizer")
    return module.SpeechTokenizer


@pytest.fixture(scope="module")
def reference():
    """(reference model, its state dict) with random weights and diverse codebooks."""
    import torch

    cls = _reference_class()
    torch.manual_seed(0)
    model = cls(REFERENCE_CONFIG).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("weight_g"):
                parameter.uniform_(0.5, 1.5)
            else:
                parameter.normal_(0.0, 0.3)
        # Codebooks: latents of the reference's own encoder, level by level on the residual.
        latents = model.encoder(_waveform(4, 40, seed=1)[:, None, :])
        latents = latents.permute(0, 2, 1).reshape(-1, REFERENCE_CONFIG["dimension"])
        generator = torch.Generator().manual_seed(0)
        residual = latents
        for layer in model.quantizer.vq.layers:
            codebook = layer._codebook
            size = codebook.embed.shape[0]
            chosen = residual[torch.randperm(residual.shape[0], generator=generator)[:size]]
            codebook.embed.copy_(chosen)
            codebook.embed_avg.copy_(chosen)
            codebook.cluster_size.uniform_(0.0, 5.0)
            codebook.inited.fill_(1.0)
            residual = residual - layer.decode(layer.encode(residual[:, :, None]))[:, :, 0]
    return model, {k: v.clone() for k, v in model.state_dict().items()}


def _waveform(batch, frames, seed=0):
    import torch

    rng = np.random.default_rng(seed)
    t = np.arange(frames * HOP) / 16000
    freqs = rng.uniform(100, 3000, size=(batch, 3, 1))
    audio = np.sin(2 * np.pi * freqs * t).sum(1) / 3 + 0.1 * rng.normal(size=(batch, t.size))
    return torch.from_numpy((0.5 * audio).astype("float32"))


def _reference_codes(model, waveform):
    import torch

    with torch.no_grad():
        codes = model.encode(waveform[:, None, :])  # [Q, B, T]
    return codes.permute(1, 2, 0).numpy()


def _reference_audio(model, codes):
    import torch

    with torch.no_grad():
        audio = model.decode(torch.from_numpy(codes).long().permute(2, 0, 1))
    return audio[:, 0].numpy()


@pytest.fixture(scope="module")
def checkpoint(reference, tmp_path_factory):
    import torch

    folder = tmp_path_factory.mktemp("speechtokenizer")
    with open(folder / "config.json", "w") as f:
        json.dump(REFERENCE_CONFIG, f)
    torch.save(reference[1], folder / "SpeechTokenizer.pt")
    return folder


@pytest.fixture(scope="module")
def converted(checkpoint):
    return kss.convert.speechtokenizer(
        checkpoint / "config.json", checkpoint / "SpeechTokenizer.pt"
    )


def _relative_max_error(ours, theirs):
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


@pytest.mark.parametrize("frames", [25, 2])
def test_codes_and_audio_match_the_reference(reference, converted, frames):
    # 2 frames: the frame-level convolutions see inputs shorter than their padding.
    model, _ = reference
    waveform = _waveform(2, frames, seed=frames)
    theirs = _reference_codes(model, waveform)
    ours = converted.encode(waveform.numpy())
    assert ours.shape == theirs.shape == (2, frames, REFERENCE_CONFIG["n_q"])
    assert ours.dtype == np.int32
    agreement = float(np.mean(ours == theirs))
    assert agreement >= 0.99, agreement
    if frames > 2:
        assert len(np.unique(theirs[..., 0])) > 5  # the codes are diverse
    audio = converted.decode(theirs)
    assert audio.shape == (2, frames * HOP) and audio.dtype == np.float32
    error = _relative_max_error(audio, _reference_audio(model, theirs))
    print(
        f"parity ({frames} frames): codes {agreement:.2%} equal, audio rel. max error {error:.2e}"
    )
    assert error <= 1e-4, error


def test_semantic_tokens_and_features(reference, converted):
    import torch

    model, _ = reference
    waveform = _waveform(2, 10, seed=3)
    tokens = converted.semantic_tokens(waveform.numpy())
    codes = converted.encode(waveform.numpy())
    np.testing.assert_array_equal(tokens, codes[..., 0])
    with torch.no_grad():
        _, _, feature = model(waveform[:, None, :], layers=[0])
    features = converted.semantic_features(waveform.numpy())
    assert features.shape == (2, 10, REFERENCE_CONFIG["semantic_dimension"])
    np.testing.assert_allclose(features, feature.numpy(), atol=1e-4 * np.abs(feature.numpy()).max())


def test_properties_and_padding(converted):
    assert converted.sample_rate == 16000
    assert converted.hop_length == HOP
    assert converted.frame_rate == 800.0
    assert (converted.num_levels, converted.codebook_size) == (3, 32)
    waveform = _waveform(2, 10).numpy()
    codes = converted.encode(waveform[:, :-7])  # right-padded with zeros to 10 frames
    assert codes.shape == (2, 10, 3)
    np.testing.assert_array_equal(
        converted.encode(waveform, num_levels=2), converted.encode(waveform)[..., :2]
    )
    assert converted.decode(codes, num_levels=1).shape == (2, 10 * HOP)
    with pytest.raises(ValueError, match="must be in"):
        converted.decode(np.full((1, 2, 3), 32))
    with pytest.raises(ValueError, match="floating point"):
        converted.encode(np.zeros((1, 40), "int16"))


def test_state_dict_conversion_and_weight_norm_layouts(reference, converted):
    import torch

    model, state = reference
    # The parametrization layout (torch.nn.utils.parametrizations.weight_norm) and numpy values.
    renamed = {}
    for name, value in state.items():
        name = name.replace(".weight_g", ".parametrizations.weight.original0")
        name = name.replace(".weight_v", ".parametrizations.weight.original1")
        renamed[name] = value.numpy()
    codec = kss.convert.speechtokenizer(dict(REFERENCE_CONFIG), renamed)
    waveform = _waveform(2, 10, seed=5).numpy()
    np.testing.assert_array_equal(codec.encode(waveform), converted.encode(waveform))
    assert isinstance(state["encoder.model.0.conv.conv.weight_g"], torch.Tensor)


def test_preset_round_trip(converted, tmp_path):
    converted.save_to_preset(tmp_path / "preset", metadata={"source": "test"})
    loaded = SpeechTokenizer.from_preset(tmp_path / "preset")
    waveform = _waveform(2, 10, seed=7).numpy()
    codes = converted.encode(waveform)
    np.testing.assert_array_equal(loaded.encode(waveform), codes)
    np.testing.assert_allclose(loaded.decode(codes), converted.decode(codes), atol=1e-6)
    with open(tmp_path / "preset" / "metadata.json") as f:
        metadata = json.load(f)
    assert metadata["source"] == "test" and metadata["num_levels"] == 3
    with pytest.raises(ValueError, match="not a 'keras_soundstorm>SoundStream'"):
        kss.codecs.SoundStream.from_preset(tmp_path / "preset")


def test_cli_converts_to_a_loadable_preset(checkpoint, converted, tmp_path, capsys):
    output = tmp_path / "codec"
    cli.main(
        [
            "convert",
            "speechtokenizer",
            "--config",
            str(checkpoint / "config.json"),
            "--checkpoint",
            str(checkpoint / "SpeechTokenizer.pt"),
            "--output",
            str(output),
        ]
    )
    assert "Wrote preset" in capsys.readouterr().out
    loaded = SpeechTokenizer.from_preset(output)
    waveform = _waveform(2, 10, seed=9).numpy()
    np.testing.assert_array_equal(loaded.encode(waveform), converted.encode(waveform))
    with open(output / "metadata.json") as f:
        source = json.load(f)["converted_from"]
    assert source["checkpoint"] == "SpeechTokenizer.pt"


def _bad_state(state, kind):
    state = dict(state)
    if kind == "missing":
        del state["decoder.model.1.lstm.weight_hh_l1"]
    elif kind == "extra":
        state["encoder.model.99.conv.conv.bias"] = state["encoder.model.0.conv.conv.bias"]
    elif kind == "shape":
        state["quantizer.vq.layers.2._codebook.embed"] = state[
            "quantizer.vq.layers.2._codebook.embed"
        ][:, :8]
    return state


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing", r"Missing tensor 'decoder\.model\.1\.lstm\.weight_hh_l1'"),
        ("extra", r"Unknown tensor 'encoder\.model\.99\.conv\.conv\.bias'"),
        ("shape", r"Tensor 'quantizer\.vq\.layers\.2\._codebook\.embed' has shape \(32, 8\)"),
        ("not a checkpoint", r"is not a PyTorch checkpoint"),
    ],
)
def test_bad_checkpoints_give_one_error_and_write_nothing(
    reference, checkpoint, tmp_path, capsys, kind, message
):
    import torch

    path = tmp_path / "bad.pt"
    if kind == "not a checkpoint":
        path.write_text("this is not a checkpoint\n")
    else:
        torch.save(_bad_state(reference[1], kind), path)
        with pytest.raises(ValueError, match=message):
            kss.convert.speechtokenizer(REFERENCE_CONFIG, _bad_state(reference[1], kind))
    output = tmp_path / "codec"
    with pytest.raises(SystemExit) as error:
        cli.main(
            [
                "convert",
                "speechtokenizer",
                "--config",
                str(checkpoint / "config.json"),
                "--checkpoint",
                str(path),
                "--output",
                str(output),
            ]
        )
    text = str(error.value)
    assert text.startswith("keras-soundstorm convert: error:") and "\n" not in text
    import re

    assert re.search(message, text), text
    assert not output.exists()
    assert os.listdir(tmp_path) == ["bad.pt"]  # no staging directory left either


def test_bad_configs():
    with pytest.raises(ValueError, match="lacks 'n_q'"):
        kss.convert.speechtokenizer_config(
            {k: v for k, v in REFERENCE_CONFIG.items() if k != "n_q"}
        )
    with pytest.raises(ValueError, match="only 'ELU'"):
        kss.convert.speechtokenizer_config({**REFERENCE_CONFIG, "activation": "Snake"})
    with pytest.raises(ValueError, match="does not exist"):
        kss.convert.speechtokenizer("no/such/config.json", {})


def test_public_rates_and_sizes():
    """The public config's strides and quantizer (widths kept tiny): 50 Hz frames, 8 x 1024."""
    public = {**REFERENCE_CONFIG, "strides": [8, 5, 4, 2], "codebook_size": 1024, "n_q": 8}
    codec = SpeechTokenizer(**kss.convert.speechtokenizer_config(public))
    assert codec.hop_length == 320 and codec.frame_rate == 50.0
    assert (codec.num_levels, codec.codebook_size) == (8, 1024)
    codes = codec.encode(np.zeros((1, 3 * 320), "float32"))
    assert codes.shape == (1, 3, 8)
    assert codec.decode(codes).shape == (1, 3 * 320)
