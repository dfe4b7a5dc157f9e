import contextlib
import math

import keras
import numpy as np
import pytest
from conftest import make_backbone
from keras import ops

import keras_soundstorm as kss
from keras_soundstorm.models.soundstorm import decoding

C, Q = 16, 3


def eager():
    """Runs `ops.fori_loop` as a Python loop so a test can record every pass."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.disable_jit()
    return contextlib.nullcontext()


class RecordingLogits:
    """Random (but fixed per call) logits; records the codes and level of each pass."""

    def __init__(self, seed=0, scale=3.0):
        self.scale = scale
        self.rng = np.random.default_rng(seed)
        self.calls = []
        self.logits = []

    def __call__(self, codes, level):
        codes = np.asarray(ops.convert_to_numpy(codes))
        self.calls.append((codes.copy(), int(ops.convert_to_numpy(level))))
        logits = (self.rng.normal(size=codes.shape[:2] + (C,)) * self.scale).astype("float32")
        self.logits.append(logits)
        return ops.convert_to_tensor(logits)


def decode(codes, padding_mask=None, steps=(6, 2, 1), seed=0, scale=3.0, **kwargs):
    fn = RecordingLogits(seed, scale)
    with eager():
        out = decoding.iterative_decode(
            fn, codes, padding_mask, steps_per_level=steps, seed=seed, codebook_size=C, **kwargs
        )
    return np.asarray(ops.convert_to_numpy(out)), fn


def blank(batch=2, frames=40, prompt=None):
    codes = np.full((batch, frames, Q), C, "int32")
    if prompt is not None:
        rng = np.random.default_rng(1)
        for b, p in enumerate(prompt):
            codes[b, :p] = rng.integers(0, C, (p, Q))
    return codes


def test_fills_every_token_in_sum_of_steps_passes():
    out, fn = decode(blank())
    assert len(fn.calls) == 6 + 2 + 1
    assert [level for _, level in fn.calls] == [0] * 6 + [1] * 2 + [2]
    assert out.min() >= 0 and out.max() < C


def test_level_schedule_is_cosine_and_reveals_at_least_one():
    lengths = np.array([40, 7])
    padding_mask = np.arange(40)[None] < lengths[:, None]
    steps = (6, 2, 1)
    out, fn = decode(blank(), padding_mask, steps=steps)
    history = [codes for codes, _ in fn.calls] + [out]
    for b, n in enumerate(lengths):
        k = 0
        for q, s in enumerate(steps):
            for i in range(1, s + 1):
                before = (history[k][b, :n, q] == C).sum()
                after = (history[k + 1][b, :n, q] == C).sum()
                expected = 0 if i == s else math.floor(n * math.cos(math.pi / 2 * i / s))
                expected = min(expected, max(before - 1, 0))
                assert after == expected, (b, q, i, before, after)
                k += 1


def test_finer_levels_stay_masked_and_committed_tokens_stay_fixed():
    out, fn = decode(blank())
    history = [codes for codes, _ in fn.calls] + [out]
    for k, (codes, level) in enumerate(fn.calls):
        assert (codes[:, :, level + 1 :] == C).all(), "a finer level was filled early"
        assert (codes[:, :, :level] != C).all(), "a coarser level is unfinished"
        after = history[k + 1]
        committed = codes != C
        np.testing.assert_array_equal(after[committed], codes[committed])
        changed = after != codes
        assert not changed[:, :, np.arange(Q) != level].any(), "another level changed"


def test_last_pass_of_each_level_is_greedy():
    out, fn = decode(blank(), steps=(3, 1, 1))
    k = 0
    for q, s in enumerate((3, 1, 1)):
        k += s
        before, logits = fn.calls[k - 1][0], fn.logits[k - 1]
        revealed = before[:, :, q] == C
        np.testing.assert_array_equal(out[:, :, q][revealed], logits.argmax(-1)[revealed])


def test_top_k_one_is_argmax_everywhere():
    out, fn = decode(blank(), steps=(4, 2, 1), top_k=1)
    history = [codes for codes, _ in fn.calls] + [out]
    for k, (codes, level) in enumerate(fn.calls):
        revealed = (codes[:, :, level] == C) & (history[k + 1][:, :, level] != C)
        np.testing.assert_array_equal(
            history[k + 1][:, :, level][revealed], fn.logits[k].argmax(-1)[revealed]
        )


def test_first_pass_reveals_the_most_confident_tokens():
    # One dominant token per frame with a distinct margin; without choice noise
    # the revealed frames must be those with the largest margins.
    frames = 40
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, C, frames)
    margins = rng.permutation(np.linspace(6.0, 12.0, frames))
    logits = np.zeros((1, frames, C), "float32")
    logits[0, np.arange(frames), tokens] = margins
    seen = []

    def logits_fn(codes, level):
        seen.append(np.asarray(ops.convert_to_numpy(codes)))
        return ops.convert_to_tensor(logits)

    with eager():
        decoding.iterative_decode(
            logits_fn,
            blank(batch=1, frames=frames),
            steps_per_level=(4, 1, 1),
            choice_temperature=0.0,
            seed=0,
            codebook_size=C,
        )
    revealed = seen[1][0, :, 0] != C
    count = frames - math.floor(frames * math.cos(math.pi / 8))
    assert revealed.sum() == count
    np.testing.assert_array_equal(np.flatnonzero(revealed), np.sort(np.argsort(-margins)[:count]))
    np.testing.assert_array_equal(seen[1][0, revealed, 0], tokens[revealed])


def test_prompt_and_padding_are_untouched():
    prompt = [10, 0]
    codes = blank(prompt=prompt)
    padding_mask = np.arange(40)[None] < np.array([[40], [25]])
    out, _ = decode(codes, padding_mask)
    np.testing.assert_array_equal(out[0, :10], codes[0, :10])
    assert (out[1, 25:] == C).all()
    assert (out[padding_mask] != C).all()


def test_deterministic_for_a_seed():
    a, _ = decode(blank(), seed=3)
    b, _ = decode(blank(), seed=3)
    c, _ = decode(blank(), seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_compiled_loop_matches_contract():
    """The default (compiled where the backend compiles) path fills everything."""
    logits = ops.convert_to_tensor(
        np.random.default_rng(0).normal(size=(2, 12, C)).astype("float32")
    )
    out = decoding.iterative_decode(
        lambda codes, level: logits,
        blank(frames=12),
        steps_per_level=(3, 1, 1),
        seed=0,
        codebook_size=C,
    )
    out = ops.convert_to_numpy(out)
    assert out.shape == (2, 12, Q) and (out < C).all() and (out >= 0).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(steps_per_level=(4, 1)), "one entry per level"),
        (dict(steps_per_level=(4, 0, 1)), ">= 1"),
        (dict(steps_per_level=5), "sequence"),
        (dict(temperature=0.0), "temperature"),
        (dict(top_k=0), "top_k"),
        (dict(top_k=C + 1), "top_k"),
        (dict(choice_temperature=-1.0), "choice_temperature"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        decoding.iterative_decode(lambda c, q: None, blank(), codebook_size=C, **kwargs)


def test_schedule_tables():
    level, fraction, progress, greedy = decoding.decode_schedule((16,) + (1,) * 11)
    assert len(level) == 27
    assert greedy.sum() == 12 and fraction[15] == 0 and level[16] == 1
    assert np.all(np.diff(fraction[:16]) < 0)


def test_compiled_decode_equals_eager_decode():
    """`generate` compiles its decode (jax.jit / tf.function); `run_eagerly` runs
    the same passes op by op, with the same result."""
    model = kss.SoundStorm(make_backbone())
    conditioning = np.arange(24, dtype="int32").reshape(2, 12) % 32
    prompt = np.arange(2 * 8 * 4, dtype="int32").reshape(2, 8, 4) % 64
    kwargs = dict(
        conditioning=conditioning,
        prompt_codes=prompt,
        prompt_length=[8, 3],
        steps_per_level=(4, 2, 1, 1),
        top_k=20,
        seed=11,
    )
    compiled = model.generate(**kwargs)
    model.run_eagerly = True
    eager = model.generate(**kwargs)
    np.testing.assert_array_equal(eager, compiled)
    assert (compiled[:, :, 0] != 64).all()


@pytest.mark.parametrize("width", [C - 1, C + 1])
def test_logits_of_another_width_than_codebook_size_are_an_error(width):
    codes = np.full((1, 5, Q), C, "int32")
    logits_fn = lambda codes, level: ops.zeros((1, 5, width))
    with pytest.raises(
        ValueError, match=f"returns {width} logits per token but `codebook_size` is {C}"
    ):
        decoding.iterative_decode(
            logits_fn, codes, steps_per_level=(2, 1, 1), codebook_size=C, seed=0
        )


# --- numeric arguments and non-finite logits (issue 15, items 7 and 10) ---

FEW_STEPS = (2, 1, 1)  # one entry per level (Q = 3 here)


def test_iterative_decode_checks_its_numeric_arguments():
    codes = np.full((1, 4, Q), C, "int32")

    def logits_fn(codes, level):
        return ops.zeros((1, 4, C))

    for kwargs, name in [
        (dict(top_k=2.5), "`top_k`"),
        (dict(top_k=True), "`top_k`"),
        (dict(temperature=1e-40), "`temperature`"),
        (dict(temperature=None), "`temperature`"),
        (dict(seed=2**31), "`seed`"),
        (dict(seed=-3), "`seed`"),
    ]:
        with pytest.raises(ValueError, match=name):
            decoding.iterative_decode(logits_fn, codes, codebook_size=C, **kwargs)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_iterative_decode_reports_non_finite_logits(bad):
    codes = np.full((1, 4, Q), C, "int32")

    def logits_fn(codes, level):
        return ops.where(ops.arange(C) == 3, bad, ops.zeros((1, 4, C)))

    decoded, finite = decoding.iterative_decode(
        logits_fn, codes, steps_per_level=FEW_STEPS, codebook_size=C, seed=0, return_finite=True
    )
    assert not bool(ops.convert_to_numpy(finite))
    assert ops.convert_to_numpy(decoded).shape == (1, 4, Q)

    def fine(codes, level):
        return ops.zeros((1, 4, C))

    _, finite = decoding.iterative_decode(
        fine, codes, steps_per_level=FEW_STEPS, codebook_size=C, seed=0, return_finite=True
    )
    assert bool(ops.convert_to_numpy(finite))


@pytest.mark.parametrize("bad_id", [C + 1, -1, 10**6])
def test_input_ids_outside_codebook_and_mask_are_an_error(bad_id):
    """Ids above MASK (= C) or negative were decoded as if they were real tokens."""
    codes = blank(batch=1, frames=6)
    codes[0, 2, 1] = bad_id
    with pytest.raises(ValueError, match=r"`codes` holds ids .*accepted: \[0, 16\]"):
        decoding.iterative_decode(
            lambda c, q: ops.zeros((1, 6, C)), codes, steps_per_level=(2, 1, 1), codebook_size=C
        )


def test_float_input_codes_are_an_error():
    with pytest.raises(ValueError, match="`codes` must hold integers"):
        decoding.iterative_decode(
            lambda c, q: ops.zeros((1, 6, C)),
            blank(batch=1, frames=6).astype("float32"),
            steps_per_level=(2, 1, 1),
            codebook_size=C,
        )
