"""Autoregressive decoding with a key/value cache, as one static-shape loop.

The sequence is laid out in cache slots as `[text (Tt) | prompt (P) | new (N)]`
for the whole batch; an example's unused text and prompt slots are masked out
of attention, and its semantic positions count from 0 at its first prompt
token, so a padded batch decodes each example exactly as it would alone.
The loop (`ops.while_loop`) runs one token per iteration until every example
has ended or N tokens exist, so it compiles into a single program on JAX and
TensorFlow (`cached_decode`). `generate` runs the same loop in a few segments
of growing cache size (`prefill`, `decode_segment`, `grow_cache`): the
tokens are the same, the steps of a short output much cheaper.
"""

from keras import ops

from keras_soundstorm import backend

# A step attends over (and carries) the whole cache, so a cache sized for the
# longest allowed output (16 tokens per text id) makes every step of a normal
# one several times slower. `generate` therefore decodes in segments: a cache
# with this many new slots first, grown SEGMENT_GROWTH-fold while tokens are
# still coming, up to the full bound. Same tokens; one compile per size used.
FIRST_SEGMENT_TOKENS = 512
SEGMENT_GROWTH = 4


def sample_tokens(logits, seed, counter, temperature=1.0, top_k=None, top_p=1.0):
    """Samples one id per row of `logits` `[B, V]` -> int32 `[B]`.

    Temperature, then top-k, then top-p (nucleus: the most probable ids whose
    cumulative probability first reaches `top_p`), then a Gumbel-max draw
    from `backend.uniform_noise(seed, counter)`. `top_k=1` is greedy.
    """
    logits = ops.cast(logits, "float32")
    if top_k == 1:
        return ops.cast(ops.argmax(logits, axis=-1), "int32")
    logits = logits / temperature
    removed = float("-inf")
    if top_k is not None:
        logits = ops.where(logits < backend.kth_largest(logits, top_k), removed, logits)
    if top_p < 1.0:
        ordered = ops.flip(ops.sort(logits, axis=-1), axis=-1)
        cumulative = ops.cumsum(ops.softmax(ordered, axis=-1), axis=-1)
        kept = 1 + ops.sum(ops.cast(cumulative[:, :-1] <= top_p, "int32"), axis=-1)
        cutoff = ops.take_along_axis(ordered, (kept - 1)[:, None], axis=-1)
        logits = ops.where(logits < cutoff, removed, logits)
    noise = backend.uniform_noise(ops.shape(logits), seed, counter)
    gumbel = -ops.log(-ops.log(noise))
    return ops.cast(ops.argmax(logits + gumbel, axis=-1), "int32")


def cached_decode(
    backbone,
    head,
    text_ids,
    text_padding_mask,
    prompt,
    prompt_padding_mask,
    seed,
    max_new_tokens,
    temperature=1.0,
    top_k=None,
    top_p=1.0,
    tokens_per_text_id=16,
):
    """Generates semantic tokens after `[text; prompt]`, uncompiled, as one loop.

    Args:
        backbone: a `TextToSemanticBackbone`; head: its `Dense` to logits.
        text_ids, text_padding_mask: int / bool `[B, Tt]` (each example's ids
            first, then padding).
        prompt, prompt_padding_mask: int / bool `[B, P]` (P may be 0).
        seed: int32 scalar tensor; max_new_tokens: N, a Python int.
        tokens_per_text_id: an example also stops once it has more than this
            many tokens per text id (USLM's limit).

    Each step samples a token; an example ends (the token is not kept) when
    the sample or the most likely id is end of speech, or past its limit,
    as USLM's inference does.

    Returns:
        `(tokens, lengths, finite)`: int32 `[B, N]` with -1 after each
        example's `lengths` `[B]` tokens; whether every logit was finite.
    """
    state = prefill(
        backbone, head, text_ids, text_padding_mask, prompt, prompt_padding_mask,
        max_new_tokens, new_slots=max_new_tokens,
    )  # fmt: skip
    state = decode_segment(
        backbone, head, state, text_padding_mask, prompt_padding_mask, seed, max_new_tokens,
        temperature=temperature, top_k=top_k, top_p=top_p, tokens_per_text_id=tokens_per_text_id,
    )  # fmt: skip
    return outputs(state)


def prefill(
    backbone, head, text_ids, text_padding_mask, prompt, prompt_padding_mask, max_new_tokens,
    new_slots,
):  # fmt: skip
    """The decoding state after one pass over `[text; prompt]`.

    The cache holds `Tt + P + new_slots` slots (`new_slots <= max_new_tokens`:
    `decode_segment` runs until they are full, `grow_cache` adds more).
    Returns the state tuple `(step, logits, cache, tokens, lengths, done,
    finite)` that `decode_segment` continues.
    """
    batch, text_slots = ops.shape(text_ids)[0], ops.shape(text_ids)[1]
    prompt_slots = ops.shape(prompt)[1]
    key_mask, text_lengths, prompt_lengths = _slots(
        text_padding_mask, prompt_padding_mask, new_slots
    )
    positions = ops.broadcast_to(ops.arange(prompt_slots, dtype="int32")[None], ops.shape(prompt))
    x = ops.concatenate(
        [backbone.embed_text(text_ids), backbone.embed_semantic(prompt, positions)], axis=1
    )
    cache = backbone.empty_cache(batch, text_slots + prompt_slots + new_slots)
    hidden, cache = backbone.decoder.decode(x, key_mask, text_slots, cache, 0)
    # The last real slot predicts the first new token: the prompt's, else the text's.
    last = ops.where(prompt_lengths > 0, text_slots + prompt_lengths - 1, text_lengths - 1)
    hidden = ops.take_along_axis(hidden, ops.cast(last, "int32")[:, None, None], axis=1)
    logits = ops.cast(head(hidden[:, 0]), "float32")
    return (
        ops.convert_to_tensor(0, "int32"),
        logits,
        cache,
        ops.full((batch, max_new_tokens), -1, "int32"),
        ops.zeros((batch,), "int32"),
        ops.zeros((batch,), "bool"),
        ops.all(ops.isfinite(logits)),
    )


def grow_cache(backbone, state, num_slots):
    """`state` with its cache copied into a larger one of `num_slots` slots."""
    cache = state[2]
    batch = ops.shape(cache[0][0])[0]
    grown = tuple(
        tuple(ops.slice_update(empty, (0, 0, 0, 0), old) for empty, old in zip(new, layer))
        for new, layer in zip(backbone.empty_cache(batch, num_slots), cache)
    )
    return state[:2] + (grown,) + state[3:]


def decode_segment(
    backbone, head, state, text_padding_mask, prompt_padding_mask, seed, max_new_tokens,
    temperature=1.0, top_k=None, top_p=1.0, tokens_per_text_id=16,
):  # fmt: skip
    """Continues `state` one token per step until its cache's new slots are full.

    Stops early once every example has ended. Arguments as `cached_decode`;
    the number of new slots is the cache's size less `Tt + P`. Returns the
    state after the last step, where an example past its length limit is
    already marked done (the next step would end it without a token), so
    "every example done" is all a caller checks before another segment.
    """
    end = backbone.end_of_speech_id
    text_slots, prompt_slots = ops.shape(text_padding_mask)[1], ops.shape(prompt_padding_mask)[1]
    new_slots = ops.shape(state[2][0][0])[2] - text_slots - prompt_slots  # [B, H, S, F]
    key_mask, text_lengths, prompt_lengths = _slots(
        text_padding_mask, prompt_padding_mask, new_slots
    )
    limits = tokens_per_text_id * text_lengths
    columns = ops.arange(max_new_tokens, dtype="int32")[None]

    def keep_going(step, logits, cache, tokens, lengths, done, finite):
        return ops.logical_and(step < new_slots, ops.logical_not(ops.all(done)))

    def decode_one(step, logits, cache, tokens, lengths, done, finite):
        sample = sample_tokens(logits, seed, step, temperature, top_k, top_p)
        most_likely = ops.cast(ops.argmax(logits, axis=-1), "int32")
        done = done | (sample == end) | (most_likely == end) | (step > limits)
        kept = ops.where(done, -1, sample)
        tokens = ops.where(columns == step, kept[:, None], tokens)
        lengths = lengths + ops.cast(ops.logical_not(done), "int32")
        x = backbone.embed_semantic(sample[:, None], (prompt_lengths + step)[:, None])
        hidden, cache = backbone.decoder.decode(
            x, key_mask, text_slots, cache, text_slots + prompt_slots + step
        )
        logits = ops.cast(head(hidden[:, 0]), "float32")
        finite = ops.logical_and(finite, ops.all(ops.isfinite(logits)))
        return step + 1, logits, cache, tokens, lengths, done, finite

    state = ops.while_loop(keep_going, decode_one, state)
    done = state[5] | (state[0] > limits)
    return state[:5] + (done,) + state[6:]


def segment_slots(max_new_tokens):
    """The new-slot counts of `generate`'s segments, e.g. `(512, 2048, 3201)`."""
    slots = [min(FIRST_SEGMENT_TOKENS, max_new_tokens)]
    while slots[-1] < max_new_tokens:
        slots.append(min(slots[-1] * SEGMENT_GROWTH, max_new_tokens))
    return tuple(slots)


def outputs(state):
    """`(tokens, lengths, finite)` of a decoding state (see `cached_decode`)."""
    return state[3], state[4], state[6]


def _slots(text_padding_mask, prompt_padding_mask, new_slots):
    """`(key_mask, text_lengths, prompt_lengths)` of a cache of `Tt + P + new_slots`.

    `key_mask` bool `[B, Tt + P + new_slots]`: the real text and prompt slots
    and every new one; the lengths int32 `[B]`.
    """
    text_padding_mask = ops.cast(text_padding_mask, "bool")
    prompt_padding_mask = ops.cast(prompt_padding_mask, "bool")
    new = ops.ones((ops.shape(text_padding_mask)[0], new_slots), "bool")
    key_mask = ops.concatenate([text_padding_mask, prompt_padding_mask, new], axis=1)
    text_lengths = ops.sum(ops.cast(text_padding_mask, "int32"), axis=1)
    prompt_lengths = ops.sum(ops.cast(prompt_padding_mask, "int32"), axis=1)
    return key_mask, text_lengths, prompt_lengths
