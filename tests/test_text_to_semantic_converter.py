"""USLM converter, against lifeiteng's VALL-E AR modules of vall-e-x 0.0.2a1 (PyPI).

The reference is USLM's model: `VALLF` with its causal `TransformerEncoder`
(as `models/uslm.py` builds it), `NUM_TEXT_TOKENS = 512` and no audio BOS,
with tiny random weights (every parameter, norm gain and `alpha` randomised),
saved as `torch.save({"model": state_dict})` and converted through
`kss.convert.uslm`. Its package `__init__`s import training dependencies,
which `peers.vallex_reference` bypasses. The reference's logits are computed
as USLM's `forward` does (prefix mask merged with key padding), its greedy
continuations with its own key/value-cached `ar_decoder.infer` loop.
"""

import logging

import keras
import numpy as np
import pytest

import keras_soundstorm as kss
from keras_soundstorm.convert.peers import vallex_reference
from keras_soundstorm.models.text_to_semantic import parameter_count
from keras_soundstorm.models.text_to_semantic.configs import USLM

HIDDEN, HEADS, LAYERS = 32, 2, 2
TEXT_VOCABULARY, END = 512, 1024
TEXT_LENGTHS, SEMANTIC_LENGTHS = [12, 9, 5], [40, 33, 21]
CONTINUATION = 50


def _modules():
    pytest.importorskip("torch")
    module = vallex_reference(TEXT_VOCABULARY)
    from vallex.modules.transformer import TransformerEncoder, TransformerEncoderLayer

    return module, TransformerEncoder, TransformerEncoderLayer


def _build_reference(hidden, heads, layers):
    module, encoder, encoder_layer = _modules()
    return module.VALLF(
        hidden, heads, layers, norm_first=True, add_prenet=False, decoder_cls=encoder,
        decoder_layer_cls=encoder_layer, prefix_mode=1, share_embedding=True, prepend_bos=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def reference():
    import torch

    torch.manual_seed(0)
    model = _build_reference(HIDDEN, HEADS, LAYERS).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(("norm1.weight", "norm2.weight", "norm.weight", "alpha")):
                parameter.uniform_(0.5, 1.5)
            else:
                parameter.normal_(0.0, 0.3)
    return model


@pytest.fixture(scope="module")
def checkpoint(reference, tmp_path_factory):
    import torch

    path = tmp_path_factory.mktemp("uslm") / "USLM.pt"
    torch.save({"model": reference.state_dict()}, path)
    return str(path)


@pytest.fixture(scope="module")
def symbols_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("uslm_symbols") / "unique_text_tokens.k2symbols"
    path.write_text("<eps> 0\n_ 1\nb 2\na 3\nɪ 4\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def converted(checkpoint, symbols_file):
    return kss.convert.uslm(checkpoint, symbols_file, num_heads=HEADS)


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    batch = len(TEXT_LENGTHS)
    text = rng.integers(3, TEXT_VOCABULARY, (batch, max(TEXT_LENGTHS)))
    semantic = rng.integers(0, END, (batch, max(SEMANTIC_LENGTHS)))
    text_mask = np.arange(text.shape[1])[None] < np.array(TEXT_LENGTHS)[:, None]
    semantic_mask = np.arange(semantic.shape[1])[None] < np.array(SEMANTIC_LENGTHS)[:, None]
    # Padding as USLM's collaters write it: text 0 (<pad>), semantic end of speech.
    return (
        np.where(text_mask, text, 0).astype("int32"),
        np.where(semantic_mask, semantic, END).astype("int32"),
        text_mask,
        semantic_mask,
    )


def _reference_logits(reference, text, semantic, text_mask, semantic_mask):
    """USLM's `forward`, AR part: prefix mask merged with key padding."""
    import torch
    import torch.nn.functional as F

    text, semantic = torch.from_numpy(text).long(), torch.from_numpy(semantic).long()
    padding = torch.from_numpy(np.concatenate([~text_mask, ~semantic_mask], axis=1))
    batch, x_len, y_len = text.shape[0], text.shape[1], semantic.shape[1]
    with torch.no_grad():
        x = reference.ar_text_position(reference.ar_text_embedding(text))
        y = reference.ar_audio_position(reference.ar_audio_embedding(semantic))
        x_rows = F.pad(torch.zeros((x_len, x_len), dtype=torch.bool), (0, y_len), value=True)
        y_rows = F.pad(
            torch.triu(torch.ones(y_len, y_len, dtype=torch.bool), diagonal=1),
            (x_len, 0),
            value=False,
        )
        mask = torch.concat([x_rows, y_rows], dim=0)
        keys = padding.view(batch, 1, 1, -1).expand(-1, HEADS, -1, -1).reshape(batch * HEADS, 1, -1)
        mask = mask.logical_or(keys)
        additive = torch.zeros_like(mask, dtype=x.dtype).masked_fill_(mask, float("-inf"))
        hidden, _ = reference.ar_decoder((torch.concat([x, y], dim=1), None), mask=additive)
        return reference.ar_predict_layer(hidden[:, x_len:]).numpy()


def _reference_greedy(reference, text, prompt, steps):
    """The reference's own cached decoding (VALL-E's `inference` loop), greedy."""
    import torch
    import torch.nn.functional as F

    text = torch.from_numpy(np.asarray(text)[None]).long()
    y = torch.from_numpy(np.asarray(prompt)[None]).long()
    x_len = text.shape[1]
    tokens, past = [], None
    with torch.no_grad():
        x = reference.ar_text_position(reference.ar_text_embedding(text))
        for _ in range(steps):
            y_pos = reference.ar_audio_position(reference.ar_audio_embedding(y))
            xy = torch.concat([x, y_pos], dim=1)
            y_len = y.shape[1]
            mask = torch.concat(
                [
                    F.pad(torch.zeros((x_len, x_len), dtype=torch.bool), (0, y_len), value=True),
                    F.pad(
                        torch.triu(torch.ones(y_len, y_len, dtype=torch.bool), diagonal=1),
                        (x_len, 0),
                        value=False,
                    ),
                ],
                dim=0,
            )
            if past is not None:
                xy = xy[:, [-1]]
            hidden, past = reference.ar_decoder.infer(xy, mask=mask, past_kv=past, use_cache=True)
            token = int(reference.ar_predict_layer(hidden[:, -1]).argmax(-1)[0])
            if token == END:
                break
            tokens.append(token)
            y = torch.concat([y, torch.tensor([[token]])], dim=1)
    return tokens


def test_logits_match_the_reference(converted, reference):
    text, semantic, text_mask, semantic_mask = _inputs()
    expected = _reference_logits(reference, text, semantic, text_mask, semantic_mask)
    logits = keras.ops.convert_to_numpy(converted.logits(text, semantic, text_mask, semantic_mask))
    real = semantic_mask
    scale = np.abs(expected[real]).max()
    worst = np.abs(logits[real] - expected[real]).max() / scale
    agreement = np.mean(logits[real].argmax(-1) == expected[real].argmax(-1))
    print(f"PARITY backend={keras.backend.backend()} max_rel={worst:.3g} argmax={agreement:.4f}")
    assert worst <= 1e-4
    assert agreement >= 0.999


def test_greedy_continuations_equal_the_reference_cached_decoding(converted, reference):
    """A batch of different text and prompt lengths, decoded in one compiled loop."""
    text, semantic, text_mask, semantic_mask = _inputs(seed=1)
    prompt_lengths = [10, 4, 7]
    tokens = converted.generate(
        text, semantic, text_lengths=TEXT_LENGTHS, prompt_lengths=prompt_lengths, top_k=1,
        max_length=CONTINUATION, seed=0,
    )  # fmt: skip
    for row in range(len(TEXT_LENGTHS)):
        expected = _reference_greedy(
            reference,
            text[row, : TEXT_LENGTHS[row]],
            semantic[row, : prompt_lengths[row]],
            CONTINUATION,
        )
        got = [int(t) for t in tokens[row] if t >= 0]
        print(f"row {row}: {len(expected)} reference tokens")
        assert len(expected) >= 10  # random weights: no early end of speech here
        assert got == expected


def test_converter_counts_the_unneeded_nar_tensors(checkpoint, symbols_file, reference, caplog):
    nar = sum(name.startswith("nar_") for name in reference.state_dict())
    with caplog.at_level(logging.INFO, logger="keras_soundstorm.convert.uslm"):
        model = kss.convert.uslm(checkpoint, symbols_file, num_heads=HEADS)
    assert f"{nar} nar_* tensors" in caplog.text
    ar = {k: v for k, v in reference.state_dict().items() if k.startswith("ar_")}
    assert f"Converted {len(ar)} ar_* tensors" in caplog.text
    assert model.count_params() == sum(v.numel() for v in ar.values())
    assert model.count_params() == parameter_count(**kss.convert.uslm_config(checkpoint, HEADS))


def test_symbols_follow_uslm_text_ids(converted):
    # <pad>, <bos>, <eos>, then the table's symbols (with <eps> at id 0) sorted.
    assert converted.symbols == ["<pad>", "<bos>", "<eos>", "<eps>", "_", "a", "b", "ɪ"]


def test_full_size_config_from_shapes_has_the_reference_parameter_count():
    import torch

    with torch.device("meta"):
        full = _build_reference(1024, 16, 12)
    shapes = {name: tuple(t.shape) for name, t in full.state_dict().items()}
    config = kss.convert.uslm_config({k: v for k, v in shapes.items() if k.startswith("ar_")})
    expected = sum(p.numel() for n, p in full.named_parameters() if n.startswith("ar_"))
    assert config == USLM
    assert parameter_count(**config) == expected
    assert abs(expected - 153.8e6) < 0.05e6


def test_preset_round_trip_keeps_weights_and_symbols(converted, tmp_path):
    converted.save_to_preset(tmp_path / "t2s")
    loaded = kss.TextToSemantic.from_preset(tmp_path / "t2s")
    text, semantic, text_mask, semantic_mask = _inputs()
    before = keras.ops.convert_to_numpy(converted.logits(text, semantic, text_mask, semantic_mask))
    after = keras.ops.convert_to_numpy(loaded.logits(text, semantic, text_mask, semantic_mask))
    np.testing.assert_array_equal(before, after)
    assert loaded.symbols == converted.symbols


# --- Bad checkpoints: one clear error, nothing converted -------------------------------------


def _state_dict(reference):
    return {name: tensor.clone() for name, tensor in reference.state_dict().items()}


def _error(checkpoint, tmp_path, converter=None):
    import torch

    path = tmp_path / "bad.pt"
    torch.save(checkpoint, path)
    with pytest.raises(ValueError) as error:
        (converter or (lambda p: kss.convert.uslm(p, None, num_heads=HEADS)))(str(path))
    message = str(error.value)
    assert "\n" not in message
    return message


def test_uslm_checkpoint_given_to_the_soundstorm_converter(checkpoint):
    with pytest.raises(ValueError, match="kss.convert.uslm") as error:
        kss.convert.soundstorm_speechtokenizer(checkpoint)
    assert "\n" not in str(error.value)


def test_soundstorm_checkpoint_given_to_the_uslm_converter(tmp_path):
    import torch

    soundstorm_names = {
        "net.code_embeds.weight": torch.zeros(8, 4),
        "net.conformer.layers.0.post_norm.weight": torch.zeros(4),
        "semantic_token_emb.weight": torch.zeros(5, 4),
    }
    message = _error(soundstorm_names, tmp_path)
    assert "soundstorm_speechtokenizer" in message


def test_missing_misshaped_unknown_and_nonfinite_tensors_are_named(reference, tmp_path):
    import torch

    missing = _state_dict(reference)
    del missing["ar_decoder.layers.1.linear2.bias"]
    assert "ar_decoder.layers.1.linear2.bias" in _error({"model": missing}, tmp_path)

    misshaped = _state_dict(reference)
    misshaped["ar_decoder.layers.0.norm2.weight"] = torch.ones(HIDDEN + 1)
    assert "ar_decoder.layers.0.norm2.weight" in _error({"model": misshaped}, tmp_path)

    unknown = _state_dict(reference)
    unknown["ar_extra.weight"] = torch.ones(3)
    assert "ar_extra.weight" in _error({"model": unknown}, tmp_path)
    stranger = _state_dict(reference)
    stranger["speaker_embedding.weight"] = torch.ones(3)
    assert "speaker_embedding.weight" in _error({"model": stranger}, tmp_path)

    nonfinite = _state_dict(reference)
    nonfinite["ar_audio_position.alpha"] = torch.tensor([float("nan")])
    assert "ar_audio_position.alpha" in _error({"model": nonfinite}, tmp_path)


def test_bad_symbol_tables_are_errors(checkpoint, tmp_path):
    path = tmp_path / "bad.k2symbols"
    path.write_text("a 1\nb\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        kss.convert.uslm(checkpoint, str(path), num_heads=HEADS)
