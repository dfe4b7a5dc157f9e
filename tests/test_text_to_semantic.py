"""TextToSemantic: training target, fit, cached compiled decoding, presets, bad inputs."""

import keras
import numpy as np
import pytest
from conftest import FEW_STEPS_EAGERLY

import keras_soundstorm as kss
from keras_soundstorm.models.text_to_semantic import generate as decoding
from keras_soundstorm.models.text_to_semantic import parameter_count
from keras_soundstorm.models.text_to_semantic.generate import sample_tokens

TINY = dict(kss.TEXT_TO_SEMANTIC_CONFIGS["tiny"])
END = TINY["codebook_size"]


def _model(**overrides):
    return kss.TextToSemantic(kss.TextToSemanticBackbone(**{**TINY, **overrides}))


def _randomised(model, seed=0):
    """Weights large enough that the logits are far from ties."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        scale = 0.5 if len(variable.shape) > 1 else 0.2
        variable.assign(1.0 * (len(variable.shape) == 1) + rng.normal(0, scale, variable.shape))
    return model


def _batch():
    text = np.array([[1, 7, 9, 11, 2], [1, 5, 2, 0, 0], [1, 8, 8, 2, 0]], "int32")
    text_lengths = np.array([5, 3, 4])
    prompt = np.array([[3, 4, 5, 6], [7, END, END, END], [9, 10, END, END]], "int32")
    prompt_lengths = np.array([4, 1, 2])
    return text, text_lengths, prompt, prompt_lengths


def test_parameter_count_formula_matches_the_built_model():
    for overrides in ({}, {"norm_first": False}):
        model = _model(**overrides)
        assert model.count_params() == parameter_count(**{**TINY, **overrides})


def test_next_token_targets_end_with_end_of_speech():
    model = _model()
    semantic = np.array([[4, 5, 6, END], [7, 8, 9, 10]], "int32")
    mask = np.array([[True, True, True, False], [True, True, True, True]])
    targets = keras.ops.convert_to_numpy(model.next_token_targets(semantic, mask))
    np.testing.assert_array_equal(targets, [[5, 6, END, END], [8, 9, 10, END]])


def test_padding_does_not_change_the_logits_of_real_positions():
    model = _randomised(_model())
    text, text_lengths, prompt, prompt_lengths = _batch()
    text_mask = np.arange(5)[None] < text_lengths[:, None]
    semantic_mask = np.arange(4)[None] < prompt_lengths[:, None]
    batched = keras.ops.convert_to_numpy(model.logits(text, prompt, text_mask, semantic_mask))
    for row in range(3):
        alone = model.logits(
            text[row : row + 1, : text_lengths[row]], prompt[row : row + 1, : prompt_lengths[row]]
        )
        np.testing.assert_allclose(
            batched[row, : prompt_lengths[row]], keras.ops.convert_to_numpy(alone)[0], atol=1e-5
        )


def _uncached_decode(model, text, text_lengths, prompt, prompt_lengths, seed, steps, **sampling):
    """Decoding without a cache: every step rescores the whole padded batch.

    The same stop rule as USLM's inference: a row ends when the sample or the
    most likely id is end of speech, or after 16 tokens per text id.
    """
    rows = [list(prompt[r, : prompt_lengths[r]]) for r in range(len(text))]
    text_mask = np.arange(text.shape[1])[None] < np.asarray(text_lengths)[:, None]
    new, done = [[] for _ in rows], [False] * len(rows)
    for step in range(steps):
        width = max(len(r) for r in rows)
        semantic = np.array([r + [END] * (width - len(r)) for r in rows], "int32")
        lengths = np.array([len(r) for r in rows])
        semantic_mask = np.arange(width)[None] < lengths[:, None]
        logits = keras.ops.convert_to_numpy(model.logits(text, semantic, text_mask, semantic_mask))
        last = logits[np.arange(len(rows)), lengths - 1]
        sample = keras.ops.convert_to_numpy(sample_tokens(last, seed, step, **sampling))
        for r in range(len(rows)):
            stop = END in (sample[r], last[r].argmax()) or step > 16 * text_lengths[r]
            done[r] = done[r] or bool(stop)
            if not done[r]:
                new[r].append(int(sample[r]))
            rows[r].append(int(sample[r]))
        if all(done):
            break
    return new


@pytest.mark.parametrize(
    "sampling",
    [dict(top_k=1), dict(temperature=0.9, top_k=8, top_p=0.9)],
    ids=["greedy", "sampled"],
)
@pytest.mark.parametrize("first_segment", [None, 3], ids=["one_segment", "segments_3_6_12"])
def test_compiled_cached_decode_equals_uncached_decoding(sampling, first_segment, monkeypatch):
    """Also when `generate` decodes in segments of growing cache size (3, 6, then 12 slots)."""
    if first_segment is not None:
        monkeypatch.setattr(decoding, "FIRST_SEGMENT_TOKENS", first_segment)
        monkeypatch.setattr(decoding, "SEGMENT_GROWTH", 2)
        assert decoding.segment_slots(12) == (3, 6, 12)
    model = _randomised(_model())
    text, text_lengths, prompt, prompt_lengths = _batch()
    tokens = model.generate(
        text, prompt, text_lengths=text_lengths, prompt_lengths=prompt_lengths, seed=11,
        max_length=12, **sampling,
    )  # fmt: skip
    seed = keras.ops.convert_to_tensor(np.int32(11))
    full = {"temperature": 1.0, "top_k": None, "top_p": 1.0, **sampling}
    expected = _uncached_decode(model, text, text_lengths, prompt, prompt_lengths, seed, 12, **full)
    got = [[int(t) for t in row if t >= 0] for row in tokens]
    assert got == expected
    assert max(len(row) for row in got) >= 5  # the comparison covers several decoding steps


def test_generate_is_reproducible_per_seed_and_unbatched_input_works():
    model = _randomised(_model())
    text, _, prompt, _ = _batch()
    first = model.generate(text[0], prompt[0], seed=3, max_length=8)
    again = model.generate(text[0], prompt[0], seed=3, max_length=8)
    other = model.generate(text[0], prompt[0], seed=4, max_length=8)
    assert first.ndim == 1
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.slow
def test_fit_learns_a_toy_text_to_token_mapping():
    """Each of 8 words maps to its own token sequence (4-7 tokens) after a shared first token.

    Trained on `{text_ids, semantic, semantic_lengths}` (no masks: the text is
    unpadded, the semantic padding given by lengths); scored the same on the
    explicit-mask batch and on a `tf.data` dataset of the lengths form.
    """
    import tensorflow as tf

    rng = np.random.default_rng(0)
    words, width = 8, 7
    lengths = rng.integers(4, width + 1, words)
    patterns = rng.integers(0, END, (words, width))
    patterns[:, 0] = 0  # the first (given) token says nothing: the text must be read
    word = rng.integers(0, words, 256)
    text = np.stack([np.ones(256), 3 + word, np.full(256, 2)], axis=1).astype("int32")
    mask = np.arange(width)[None] < lengths[word][:, None]
    semantic = np.where(mask, patterns[word], END).astype("int32")
    data = {"text_ids": text, "semantic": semantic, "semantic_lengths": lengths[word]}
    keras.utils.set_random_seed(0)
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(5e-3), run_eagerly=FEW_STEPS_EAGERLY)
    model.fit(data, batch_size=32, epochs=8, verbose=0)
    scores = model.evaluate(data, verbose=0, return_dict=True)
    accuracy = scores["accuracy"]
    print(f"FIT backend={keras.backend.backend()} token accuracy={accuracy:.4f}")
    assert accuracy >= 0.95
    explicit = {
        "text_ids": text,
        "text_padding_mask": np.ones(text.shape, bool),
        "semantic": semantic,
        "semantic_padding_mask": mask,
    }
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(32)
    for same in (explicit, dataset):
        again = model.evaluate(same, verbose=0, return_dict=True)
        np.testing.assert_allclose(
            [again["loss"], again["accuracy"]], [scores["loss"], accuracy], rtol=1e-5
        )
    # Greedy generation from the shared first token spells each word's sequence, then ends.
    every_word = np.stack([np.ones(words), 3 + np.arange(words), np.full(words, 2)], axis=1)
    generated = model.generate(
        every_word.astype("int32"), np.zeros((words, 1), "int32"), top_k=1, max_length=width
    )
    for w in range(words):
        assert [int(t) for t in generated[w] if t >= 0] == list(patterns[w, 1 : lengths[w]])


def test_preset_round_trip(tmp_path):
    model = _randomised(_model())
    model.save_to_preset(tmp_path / "preset")
    loaded = kss.TextToSemantic.from_preset(tmp_path / "preset")
    text, _, prompt, _ = _batch()
    np.testing.assert_array_equal(
        model.generate(text[0], prompt[0], seed=1, max_length=6),
        loaded.generate(text[0], prompt[0], seed=1, max_length=6),
    )
    backbone = kss.TextToSemanticBackbone.from_preset(tmp_path / "preset")
    assert backbone.get_config() == model.backbone.get_config()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(text_ids=np.zeros((1, 0), "int32")), "text_ids"),
        (dict(text_ids=np.full((1, 3), 64)), "text_ids"),
        (dict(prompt_semantic=np.array([[END]])), "prompt_semantic"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_k=0), "top_k"),
        (dict(max_length=0), "max_length"),
        (dict(text_lengths=[4]), "text_ids"),
        (dict(prompt_lengths=[1]), "prompt_lengths"),
    ],
)
def test_bad_generate_arguments_are_named(kwargs, message):
    model = _model()
    arguments = {"text_ids": np.array([[1, 5, 2]]), "prompt_semantic": None, **kwargs}
    with pytest.raises(ValueError, match=message):
        model.generate(**arguments)


def test_training_batches_take_masks_lengths_or_neither():
    from keras_soundstorm.models.text_to_semantic.inputs import INPUT_KEYS, training_data

    backbone = _model().backbone
    text, text_lengths, semantic, semantic_lengths = _batch()
    text_mask = np.arange(5)[None] < text_lengths[:, None]
    semantic_mask = np.arange(4)[None] < semantic_lengths[:, None]
    explicit = training_data(
        {"text_ids": text, "text_padding_mask": text_mask, "semantic": semantic,
         "semantic_padding_mask": semantic_mask},
        backbone,
    )  # fmt: skip
    by_lengths = training_data(
        {"text_ids": text, "text_lengths": text_lengths, "semantic": semantic,
         "semantic_lengths": semantic_lengths},
        backbone,
    )  # fmt: skip
    neither = training_data({"text_ids": text, "semantic": semantic}, backbone)
    for batch in (explicit, by_lengths, neither):
        assert tuple(batch) == INPUT_KEYS
    for key in INPUT_KEYS:
        np.testing.assert_array_equal(by_lengths[key], explicit[key])
    assert neither["text_padding_mask"].all() and neither["semantic_padding_mask"].all()


@pytest.mark.parametrize(
    "batch, message",
    [
        (dict(text_ids=1), r"no \['semantic'\]"),
        (dict(text_ids=1, semantic=1, padding=1), r"unknown keys \['padding'\]"),
        (dict(semantic=1, semantic_lenghts=1), r"unknown keys \['semantic_lenghts'\] and no"),
        (
            dict(text_ids=1, semantic=1, semantic_lengths=1, semantic_padding_mask=1),
            "both 'semantic_padding_mask' and 'semantic_lengths'",
        ),
        (dict(text_ids=np.ones((2, 3)), semantic=np.ones((2, 3), "int32")), "`text_ids` must be"),
        (
            dict(text_ids=np.ones((2, 3), "int32"), semantic=np.ones((2, 3), "int32"),
                 semantic_lengths=np.array([3, 4])),
            r"`semantic_lengths` must be in \[1, 3\]",
        ),
        (
            dict(text_ids=np.ones((2, 3), "int32"), semantic=np.ones((3, 3), "int32")),
            "`semantic` has 3 rows",
        ),
    ],
)  # fmt: skip
def test_fit_names_unknown_missing_or_bad_keys_and_lists_the_accepted_ones(batch, message):
    model = _model()
    model.compile()
    with pytest.raises(ValueError, match=message) as raised:
        model.fit(batch)
    if "keys" in message or "no " in message:
        assert "accepted keys: ['text_ids', 'text_padding_mask', 'text_lengths'" in str(
            raised.value
        )


def test_a_dataset_with_unknown_keys_is_refused_before_training():
    import tensorflow as tf

    model = _model()
    model.compile()
    dataset = tf.data.Dataset.from_tensor_slices(
        {"text_ids": np.ones((2, 3), "int32"), "tokens": np.ones((2, 3), "int32")}
    ).batch(2)
    with pytest.raises(ValueError, match=r"unknown keys \['tokens'\] and no \['semantic'\]"):
        model.fit(dataset)


def test_tasks_refuse_unknown_keyword_arguments():
    """A misspelt argument is an error, not silently dropped by Keras' functional model."""
    backbone = kss.TextToSemanticBackbone(**kss.TEXT_TO_SEMANTIC_CONFIGS["tiny"])
    with pytest.raises(ValueError, match=r"unknown keyword arguments \['symbols'\]"):
        kss.TextToSemantic(backbone, symbols=["a"])
    with pytest.raises(ValueError, match=r"unknown keyword arguments \['bogus'\]"):
        kss.SoundStorm(kss.SoundStormBackbone(**kss.CONFIGS["tiny"]), bogus=1)
