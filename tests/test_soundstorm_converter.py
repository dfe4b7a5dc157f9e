"""SoundStorm converter and architecture options, against soundstorm-pytorch 0.2.0 (PyPI).

The reference `SoundStorm(ConformerWrapper(...))` is built with a tiny config and
random weights (every parameter and norm gain randomised), saved with
`torch.save(state_dict)` and converted through `kss.convert.soundstorm_speechtokenizer`
and the CLI. Its `__init__` imports training-only packages (audiolm-pytorch,
spear-tts-pytorch, accelerate) and beartype, which are stubbed: the model code
compared here uses torch and einops only.
"""

import os
import sys

import keras
import numpy as np
import pytest

import keras_soundstorm as kss
from keras_soundstorm import cli
from keras_soundstorm.convert.peers import stub_soundstorm_pytorch_imports
from keras_soundstorm.layers import ConformerBlock
from keras_soundstorm.models.soundstorm import LevelHeads

NUM_LEVELS, CODEBOOK_SIZE, VOCABULARY, HIDDEN, HEADS = 3, 16, 10, 32, 2
# An even kernel (asymmetric padding) and the public checkpoints' expansion 2.
REFERENCE_CONFORMER = dict(
    dim=HIDDEN, depth=2, heads=HEADS, dim_head=HIDDEN // HEADS, ff_mult=4,
    conv_expansion_factor=2, conv_kernel_size=4, attn_flash=False,
)  # fmt: skip
BATCH, FRAMES = 2, 12


def _reference_module():
    pytest.importorskip("torch")
    pytest.importorskip("einops")
    if "soundstorm_pytorch" not in sys.modules:
        stub_soundstorm_pytorch_imports()
    return pytest.importorskip("soundstorm_pytorch")


@pytest.fixture(scope="module")
def reference():
    import torch

    module = _reference_module()
    torch.manual_seed(0)
    net = module.ConformerWrapper(
        codebook_size=CODEBOOK_SIZE, num_quantizers=NUM_LEVELS, conformer=REFERENCE_CONFORMER
    )
    model = module.SoundStorm(
        net,
        num_semantic_token_ids=VOCABULARY,
        wav2vec_target_sample_hz=16000,
        wav2vec_downsample_factor=320,
        codec_target_sample_hz=16000,
        codec_downsample_factor=320,
    ).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(("norm.weight", "gamma", "to_logits.0.weight", "net.0.weight")):
                parameter.uniform_(0.5, 1.5)  # norm gains
            else:
                parameter.normal_(0.0, 0.3)
    return model


@pytest.fixture(scope="module")
def checkpoint(reference, tmp_path_factory):
    import torch

    path = tmp_path_factory.mktemp("soundstorm") / "soundstorm.pt"
    torch.save(reference.state_dict(), path)
    return str(path)


@pytest.fixture(scope="module")
def converted(checkpoint):
    return kss.convert.soundstorm_speechtokenizer(checkpoint, num_heads=HEADS)


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, CODEBOOK_SIZE, (BATCH, FRAMES, NUM_LEVELS)).astype("int32")
    # MASK tokens present: levels >= 1 masked on a third of the frames, the last level on all.
    codes[:, :, 2] = CODEBOOK_SIZE
    codes[:, rng.random(FRAMES) < 0.4, 1] = CODEBOOK_SIZE
    conditioning = rng.integers(0, VOCABULARY, (BATCH, FRAMES)).astype("int32")
    return codes, conditioning


def _reference_logits(reference, codes, conditioning):
    import torch

    with torch.no_grad():
        cond = reference.maybe_get_condition(torch.from_numpy(conditioning).long(), FRAMES)
        flat = torch.from_numpy(codes.reshape(BATCH, -1)).long()
        logits = reference.net(flat, cond=cond)  # [B, T * Q, C]
    return logits.numpy().reshape(BATCH, FRAMES, NUM_LEVELS, CODEBOOK_SIZE)


def _compare(model, reference):
    codes, conditioning = _inputs()
    expected = _reference_logits(reference, codes, conditioning)
    padding_mask = np.ones((BATCH, FRAMES), bool)
    worst, agreement = 0.0, []
    for level in range(NUM_LEVELS):
        hidden = model.backbone(
            {"codes": codes, "conditioning": conditioning, "padding_mask": padding_mask}
        )
        logits = keras.ops.convert_to_numpy(model.level_heads(hidden, np.int32(level)))
        scale = np.abs(expected[:, :, level]).max()
        worst = max(worst, np.abs(logits - expected[:, :, level]).max() / scale)
        agreement.append(logits.argmax(-1) == expected[:, :, level].argmax(-1))
    return worst, np.mean(agreement)


def test_logits_match_the_reference_on_every_level(converted, reference):
    worst, agreement = _compare(converted, reference)
    print(f"PARITY backend={keras.backend.backend()} max_rel={worst:.3g} argmax={agreement:.4f}")
    assert worst <= 1e-4
    assert agreement >= 0.999


def test_converted_config_is_inferred(converted):
    config = converted.backbone.get_config()
    assert config["num_levels"] == NUM_LEVELS and config["codebook_size"] == CODEBOOK_SIZE
    assert config["conditioning_vocabulary_size"] == VOCABULARY
    assert config["num_layers"] == 2 and config["conv_kernel_size"] == 4
    assert config["conv_expansion_factor"] == 2 and config["intermediate_dim"] == 4 * HIDDEN


def test_cli_converts_to_a_loadable_preset(checkpoint, reference, tmp_path, capsys):
    output = tmp_path / "preset"
    cli.main(
        [
            "convert", "soundstorm-speechtokenizer", "--checkpoint", checkpoint,
            "--num-heads", str(HEADS), "--output", str(output),
        ]
    )  # fmt: skip
    assert "Wrote preset" in capsys.readouterr().out
    loaded = kss.SoundStorm.from_preset(str(output))
    worst, agreement = _compare(loaded, reference)
    assert worst <= 1e-4 and agreement >= 0.999
    codes = loaded.generate(conditioning=np.zeros((1, 6), "int32"), seed=0)
    assert keras.ops.convert_to_numpy(codes).shape == (1, 6, NUM_LEVELS)


def test_full_size_parameter_count():
    """The public checkpoints' architecture, from the inferred config (shapes only)."""
    shapes = _full_size_shapes()
    config = kss.convert.soundstorm_speechtokenizer_config(shapes, num_heads=8)
    model = kss.SoundStorm(kss.SoundStormBackbone(**config), head_projection=True)
    assert model.count_params() == 351_378_432
    assert sum(int(np.prod(a.shape)) for a in shapes.values()) == 351_378_432


def _full_size_shapes():
    """Zero-stride arrays with the public checkpoints' tensor names and shapes."""
    d, q, c, k = 1024, 7, 1024, 31

    def empty(*shape):
        return np.lib.stride_tricks.as_strided(np.zeros(1, "float32"), shape, (0,) * len(shape))

    shapes = {
        "net.code_embeds.weight": empty(q * (c + 1), d),
        "semantic_token_emb.weight": empty(1024, d),
        "net.heads.0.weight": empty(q * d, d),
        "net.heads.0.bias": empty(q * d),
        "net.to_logits.0.weight": empty(d),
        "net.to_logits.0.bias": empty(d),
        "net.to_logits.2.weight": empty(q, d, c),
        "net.to_logits.2.bias": empty(1, 1, q, c),
    }
    for i in range(12):
        p = f"net.conformer.layers.{i}."
        for ff in ("ff1", "ff2"):
            shapes.update(
                {
                    p + f"{ff}.fn.fn.net.0.weight": empty(4 * d, d),
                    p + f"{ff}.fn.fn.net.0.bias": empty(4 * d),
                    p + f"{ff}.fn.fn.net.3.weight": empty(d, 4 * d),
                    p + f"{ff}.fn.fn.net.3.bias": empty(d),
                    p + f"{ff}.fn.norm.weight": empty(d),
                    p + f"{ff}.fn.norm.bias": empty(d),
                }
            )
        shapes.update(
            {
                p + "attn.fn.to_q.weight": empty(d, d),
                p + "attn.fn.to_kv.weight": empty(2 * d, d),
                p + "attn.fn.to_out.weight": empty(d, d),
                p + "attn.fn.to_out.bias": empty(d),
                p + "attn.norm.weight": empty(d),
                p + "attn.norm.bias": empty(d),
                p + "conv.net.0.weight": empty(d),
                p + "conv.net.0.bias": empty(d),
                p + "conv.net.2.weight": empty(4 * d, d, 1),
                p + "conv.net.2.bias": empty(4 * d),
                p + "conv.net.4.conv.weight": empty(2 * d, 1, k),
                p + "conv.net.4.conv.bias": empty(2 * d),
                p + "conv.net.6.gamma": empty(1, 2 * d, 1),
                p + "conv.net.7.weight": empty(d, 2 * d, 1),
                p + "conv.net.7.bias": empty(d),
                p + "post_norm.weight": empty(d),
                p + "post_norm.bias": empty(d),
            }
        )
    return shapes


def _bad_checkpoint(reference, kind, tmp_path):
    import torch

    state = dict(reference.state_dict())
    if kind == "missing":
        del state["net.conformer.layers.1.conv.net.6.gamma"]
    elif kind == "extra":
        state["net.unexpected.weight"] = torch.zeros(3)
    elif kind == "shape":
        state["net.conformer.layers.0.attn.fn.to_q.weight"] = torch.zeros(HIDDEN, HIDDEN + 1)
    elif kind == "codec":
        state = {"encoder.model.0.conv.conv.weight": torch.zeros(4, 1, 7)}
    path = tmp_path / f"{kind}.pt"
    if kind == "not_a_checkpoint":
        path.write_text("not a checkpoint\n")
    else:
        torch.save(state, path)
    return str(path)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing", "conv.net.6.gamma"),
        ("extra", "net.unexpected.weight"),
        ("shape", "to_q.weight"),
        ("codec", "codec checkpoint"),
        ("not_a_checkpoint", "not a PyTorch checkpoint"),
    ],
)
def test_bad_checkpoints_fail_with_one_line(reference, kind, message, tmp_path):
    path = _bad_checkpoint(reference, kind, tmp_path)
    output = tmp_path / "out"
    with pytest.raises(SystemExit) as error:
        cli.main(
            [
                "convert", "soundstorm-speechtokenizer", "--checkpoint", path,
                "--num-heads", str(HEADS), "--output", str(output),
            ]
        )  # fmt: skip
    text = str(error.value)
    assert message in text and "\n" not in text, text
    assert not os.path.exists(output)


# --- Architecture options (no reference needed) -------------------------------


def test_options_default_to_the_existing_architecture():
    block = ConformerBlock(16, 2, 32)
    config = block.get_config()
    assert config["conv_expansion_factor"] == 1 and config["conv_norm_type"] == "layer_norm"
    assert config["attention_bias"] and config["even_kernel_padding"] == "right"
    assert LevelHeads(2, 8).get_config().get("projection") is None


def test_options_round_trip_and_shapes():
    block = ConformerBlock(
        16, 2, 32, conv_kernel_size=4, conv_expansion_factor=2, conv_norm_type="channel_norm",
        attention_bias=False, even_kernel_padding="left",
    )  # fmt: skip
    x = np.random.default_rng(0).normal(size=(2, 7, 16)).astype("float32")
    mask = np.ones((2, 7), bool)
    y = keras.ops.convert_to_numpy(block(x, padding_mask=mask))
    assert y.shape == (2, 7, 16)
    assert block.conv_depthwise.kernel.shape == (4, 32, 1)
    assert block.qkv.bias is None
    clone = ConformerBlock.from_config(block.get_config())
    clone(x, padding_mask=mask)
    clone.set_weights(block.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(x, padding_mask=mask)), y, atol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"conv_expansion_factor": 0},
        {"conv_norm_type": "batch_norm"},
        {"even_kernel_padding": "middle"},
    ],
)
def test_bad_options_are_rejected(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ConformerBlock(16, 2, 32, **kwargs)


def test_layout_map_covers_the_head_projection():
    from keras_soundstorm import distribution

    assert any("projection_kernel" in key for key in distribution.MODEL_PARALLEL_WEIGHTS)


def test_channel_norm_runs_in_float32_under_mixed_precision():
    block = kss.layers.ScaleOnlyChannelNorm(dtype="mixed_bfloat16")
    x = np.random.default_rng(0).normal(size=(2, 3, 8)).astype("float32") * 100
    y = keras.ops.convert_to_numpy(keras.ops.cast(block(x), "float32"))
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True))
    np.testing.assert_allclose(y, expected, rtol=2e-2, atol=2e-2)
