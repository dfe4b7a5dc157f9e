"""TextToSemantic task: next-token training and cached autoregressive generation."""

import types

import keras
import keras_hub
import numpy as np
from keras import layers, ops

from keras_soundstorm import backend
from keras_soundstorm.models.task_presets import TaskPresets
from keras_soundstorm.models.text_to_semantic import configs, export
from keras_soundstorm.models.text_to_semantic import generate as decoding
from keras_soundstorm.models.text_to_semantic import inputs as input_checks
from keras_soundstorm.models.text_to_semantic.backbone import TextToSemanticBackbone
from keras_soundstorm.text.symbol_table import SymbolTable
from keras_soundstorm.utils.validation import require_int, require_real

# Logits are divided by the temperature in float32: below this they overflow.
MIN_TEMPERATURE = 1e-6
MAX_SEED = 2**31 - 1

INPUT_KEYS = input_checks.INPUT_KEYS


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class TextToSemantic(TaskPresets, keras_hub.models.Task):
    """Text ids -> semantic tokens, autoregressively (USLM's AR stage).

    `fit` (and `evaluate`) take dict batches, no labels: `"text_ids"` int
    `[B, Tt]` and `"semantic"` int `[B, Ts]`, each row padded at its end, and
    for each its padding, given one of three ways: a bool mask
    (`"text_padding_mask"` `[B, Tt]`, `"semantic_padding_mask"` `[B, Ts]`,
    True on real positions), per-row lengths (`"text_lengths"`,
    `"semantic_lengths"` int `[B]`), or nothing (every position real), e.g.
    `{"text_ids", "semantic", "semantic_lengths"}`. Other keys are an error
    listing the accepted ones. Each semantic position learns the next token,
    and the last real one end of speech (`codebook_size`); padding is not
    scored. `generate` continues a prompt's semantic tokens for new text;
    `export_saved_model` writes it as a SavedModel for TF Serving.

    Args:
        backbone: a `TextToSemanticBackbone`.
        preprocessor: unused, for KerasHub compatibility (None).
        symbol_table: optional `kss.text.SymbolTable` (or its `to_dict()`)
            giving the text ids (USLM: `<pad>`, `<bos>`, `<eos>`, then its
            phonemes sorted); stored in the preset's config, so a converted
            preset maps phonemes to ids with no extra file.

    Example:
    ```python
    backbone = kss.TextToSemanticBackbone(**TEXT_TO_SEMANTIC_CONFIGS["tiny"])
    model = kss.TextToSemantic(backbone)
    model.fit({"text_ids": text, "semantic": semantic, "semantic_lengths": lengths}, epochs=1)
    tokens = model.generate(np.array([[1, 5, 7, 2]]), prompt_semantic=np.array([[3, 4]]))
    ```

    Reference: [VALL-E](https://arxiv.org/abs/2301.02111), USLM
    (github.com/0nutation/USLM).
    """

    backbone_cls = TextToSemanticBackbone

    def __init__(self, backbone, preprocessor=None, symbol_table=None, **kwargs):
        if symbol_table is not None:
            symbol_table = _checked_symbol_table(symbol_table, backbone.text_vocabulary_size)
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.semantic_head = layers.Dense(
            backbone.codebook_size + 1,
            use_bias=False,
            dtype=backbone.dtype_policy,
            name="semantic_head",
        )

        # === Functional Model ===
        inputs = dict(backbone.input)
        logits = self.semantic_head(backbone(inputs))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.symbol_table = symbol_table
        # A plain object, so that TF's attribute tracking does not try to save it.
        self._decode_cache = types.SimpleNamespace(functions={})

    def get_config(self):
        config = super().get_config()
        table = self.symbol_table
        config.update(symbol_table=None if table is None else table.to_dict())
        return config

    # --- Training -----------------------------------------------------------

    def compile(self, optimizer="auto", metrics="auto", **kwargs):
        """Compiles with AdamW (lr 1e-3, clip-norm 1) and next-token accuracy.

        The loss is built in (`compute_loss`): any `loss` argument is rejected.
        """
        if "loss" in kwargs:
            raise ValueError("TextToSemantic computes its own loss; do not pass `loss`.")
        if metrics not in ("auto", None):
            raise ValueError(f"`metrics` must be 'auto' or None; got {metrics!r}.")
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(
                learning_rate=1e-3, weight_decay=0.01, global_clipnorm=1.0
            )
        self.token_accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        super().compile(optimizer=optimizer, **kwargs)

    def next_token_targets(self, semantic, semantic_padding_mask):
        """Targets `[B, Ts]`: token `j + 1`, end of speech after the last real one."""
        semantic = ops.cast(semantic, "int32")
        mask = ops.cast(semantic_padding_mask, "bool")
        following = ops.pad(semantic[:, 1:], [[0, 0], [0, 1]])
        following_real = ops.pad(mask[:, 1:], [[0, 0], [0, 1]], constant_values=False)
        return ops.where(following_real, following, self.backbone.end_of_speech_id)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Cross-entropy of the next-token targets over the real semantic positions."""
        targets = self.next_token_targets(x["semantic"], x["semantic_padding_mask"])
        weights = ops.cast(x["semantic_padding_mask"], "float32")
        cross_entropy = keras.losses.sparse_categorical_crossentropy(
            targets, ops.cast(y_pred, "float32"), from_logits=True
        )
        loss = ops.sum(cross_entropy * weights) / ops.maximum(ops.sum(weights), 1.0)
        if self.losses:
            loss = loss + sum(self.losses)
        return loss / backend.replica_count()

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        targets = self.next_token_targets(x["semantic"], x["semantic_padding_mask"])
        self.token_accuracy.update_state(
            targets, y_pred, sample_weight=ops.cast(x["semantic_padding_mask"], "float32")
        )
        return self.get_metrics_result()

    @property
    def metrics(self):
        metrics = super().metrics
        accuracy = getattr(self, "token_accuracy", None)
        return metrics + [accuracy] if accuracy is not None and accuracy not in metrics else metrics

    def fit(self, x=None, y=None, **kwargs):
        """`keras.Model.fit` on dict batches (see the class): arrays are checked,
        masks made from lengths (or all True) for arrays and `tf.data` datasets;
        other datasets must yield the four `INPUT_KEYS`."""
        x = input_checks.training_data(x, self.backbone)
        with backend.state_kept_on_error(self):
            return super().fit(x, y, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        """`keras.Model.evaluate` on the batches `fit` takes."""
        x = input_checks.training_data(x, self.backbone)
        with backend.state_kept_on_error(self):
            return super().evaluate(x, y, **kwargs)

    # --- Inference ----------------------------------------------------------

    def logits(self, text_ids, semantic, text_padding_mask=None, semantic_padding_mask=None):
        """Logits `[B, Ts, codebook_size + 1]`: position `j` scores token `j + 1`."""
        text_ids, semantic = ops.convert_to_tensor(text_ids), ops.convert_to_tensor(semantic)
        if text_padding_mask is None:
            text_padding_mask = ops.ones(ops.shape(text_ids), "bool")
        if semantic_padding_mask is None:
            semantic_padding_mask = ops.ones(ops.shape(semantic), "bool")
        inputs = {
            "text_ids": ops.cast(text_ids, "int32"),
            "text_padding_mask": ops.cast(text_padding_mask, "bool"),
            "semantic": ops.cast(semantic, "int32"),
            "semantic_padding_mask": ops.cast(semantic_padding_mask, "bool"),
        }
        hidden = self.backbone(inputs, training=False)
        return self.semantic_head(hidden)

    def generate(
        self,
        text_ids,
        prompt_semantic=None,
        text_lengths=None,
        prompt_lengths=None,
        temperature=1.0,
        top_k=None,
        top_p=1.0,
        seed=None,
        max_length=None,
    ):
        """Semantic tokens for `text_ids`, continuing `prompt_semantic`.

        USLM's inference: the text is BOS + phonemes of (prompt transcript +
        " " + new text) + EOS, the prompt the RVQ-1 tokens of the prompt's
        audio; decoding stops at end of speech (sampled, or the most likely
        id) or after `16 x text length + 1` tokens.

        Args:
            text_ids: int `[B, Tt]` (or `[Tt]`), each row padded at its end.
            prompt_semantic: int `[B, P]` (or `[P]`) in `[0, codebook_size)`,
                or None (no prompt: the model then starts from the text alone,
                which USLM was not trained for).
            text_lengths, prompt_lengths: ints or `[B]`, the real lengths of
                each row (default: the full width); a prompt length may be 0
                (that row has no prompt).
            temperature, top_k, top_p: sampling (`top_k=1`: greedy).
            seed: int in `[0, 2**31 - 1]` (None: random). Same seed, same tokens.
            max_length: new tokens at most, a Python int (default `16 x Tt + 1`).

        Returns:
            numpy int32 `[B, N]` (`[N]` for unbatched input): each example's new
            tokens (the prompt removed), then -1.

        Raises:
            ValueError: naming a bad argument, or when the logits are not
                finite (NaN weights).
        """
        backbone = self.backbone
        unbatched = np.ndim(text_ids) == 1
        text, text_mask = _ids_and_mask(
            "text_ids", text_ids, text_lengths, unbatched, 0, backbone.text_vocabulary_size
        )
        batch = text.shape[0]
        if prompt_semantic is None:
            if prompt_lengths is not None:
                raise ValueError("`prompt_lengths` given without `prompt_semantic`.")
            prompt = np.zeros((batch, 0), "int32")
            prompt_mask = np.zeros((batch, 0), bool)
        else:
            prompt, prompt_mask = _ids_and_mask(
                "prompt_semantic", prompt_semantic, prompt_lengths, unbatched, 0,
                backbone.codebook_size, minimum_length=0,
            )  # fmt: skip
            if prompt.shape[0] != batch:
                raise ValueError(
                    f"`prompt_semantic` has {prompt.shape[0]} rows but `text_ids` has {batch}."
                )
        if max_length is None:
            max_length = configs.TOKENS_PER_TEXT_ID * text.shape[1] + 1
        settings = self.checked_sampling(max_length, temperature, top_k, top_p)
        if seed is None:
            seed = int(np.random.randint(0, MAX_SEED + 1, dtype=np.int64))
        seed = require_int("seed", seed, 0, MAX_SEED)
        decode = self._compiled_decode(**settings)
        tokens, lengths, finite = decode(
            ops.convert_to_tensor(text),
            ops.convert_to_tensor(text_mask),
            ops.convert_to_tensor(prompt),
            ops.convert_to_tensor(prompt_mask),
            ops.convert_to_tensor(np.int32(seed)),
        )
        if not bool(ops.convert_to_numpy(finite)):
            raise ValueError(
                "The model's logits hold NaN or inf (are its weights NaN or inf?); "
                "no tokens were generated."
            )
        tokens = np.asarray(ops.convert_to_numpy(tokens), "int32")
        tokens = tokens[:, : max(int(np.max(ops.convert_to_numpy(lengths))), 0)]
        return tokens[0] if unbatched else tokens

    def checked_sampling(self, max_length, temperature, top_k, top_p, length_name="max_length"):
        """`{max_length, temperature, top_k, top_p}` checked (`generate`'s rules)."""
        temperature = require_real(
            "temperature",
            temperature,
            minimum=MIN_TEMPERATURE,
            accepted=f"a finite number >= {MIN_TEMPERATURE:g} (for greedy decoding use top_k=1)",
        )
        if top_k is not None:
            top_k = require_int("top_k", top_k, 1, self.backbone.codebook_size + 1)
        top_p = require_real("top_p", top_p, minimum=0, exclusive_minimum=True)
        if top_p > 1:
            raise ValueError(f"`top_p` must be in (0, 1]; got {top_p}.")
        max_length = require_int(length_name, max_length, minimum=1)
        return dict(max_length=max_length, temperature=temperature, top_k=top_k, top_p=top_p)

    def export_saved_model(
        self,
        path,
        platforms=("cpu", "cuda", "tpu"),
        max_new_tokens=export.DEFAULT_MAX_NEW_TOKENS,
        temperature=1.0,
        top_k=None,
        top_p=1.0,
    ):
        """Exports a TF SavedModel whose `serving_default` runs `generate`.

        `max_new_tokens` (fixed at export: the decode loop's bound) and the
        sampling settings are baked in; the seed is an input. See
        `keras_soundstorm.models.text_to_semantic.export.export_saved_model`.
        """
        return export.export_saved_model(
            self,
            path,
            platforms=platforms,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
        )

    def _compiled_decode(self, max_length, temperature, top_k, top_p):
        """The decode for one setting: compiled segments (`run_eagerly=True`: op by op).

        Returns `run(text, text_mask, prompt, prompt_mask, seed) -> (tokens,
        lengths, finite)`, which runs the next segment only while some example
        is still going (`decoding.segment_slots`).
        """
        slots = decoding.segment_slots(max_length)
        key = (max_length, temperature, top_k, top_p, slots, bool(self.run_eagerly))
        functions = self._decode_cache.functions
        if key not in functions:
            functions[key] = self._segmented_decode(slots, max_length, temperature, top_k, top_p)
        return functions[key]

    def _segmented_decode(self, slots, max_length, temperature, top_k, top_p):
        backbone, head = self.backbone, self.semantic_head
        settings = dict(
            temperature=temperature, top_k=top_k, top_p=top_p,
            tokens_per_text_id=configs.TOKENS_PER_TEXT_ID,
        )  # fmt: skip
        variables = backbone.variables + head.variables
        eager = bool(self.run_eagerly)

        def first(text, text_mask, prompt, prompt_mask, seed):
            state = decoding.prefill(
                backbone, head, text, text_mask, prompt, prompt_mask, max_length, slots[0]
            )
            return decoding.decode_segment(
                backbone, head, state, text_mask, prompt_mask, seed, max_length, **settings
            )

        def grown(new_slots):
            def more(state, text_mask, prompt_mask, seed):
                fixed = ops.shape(text_mask)[1] + ops.shape(prompt_mask)[1]
                state = decoding.grow_cache(backbone, state, fixed + new_slots)
                return decoding.decode_segment(
                    backbone, head, state, text_mask, prompt_mask, seed, max_length, **settings
                )

            return more

        segments = [backend.compiled_inference(first, variables, run_eagerly=eager)]
        for new_slots in slots[1:]:
            segments.append(backend.compiled_inference(grown(new_slots), variables, eager))

        def run(text, text_mask, prompt, prompt_mask, seed):
            state = segments[0](text, text_mask, prompt, prompt_mask, seed)
            for segment in segments[1:]:
                if ops.convert_to_numpy(state[5]).all():  # every example has ended
                    break
                state = segment(state, text_mask, prompt_mask, seed)
            return decoding.outputs(state)

        return run


def _checked_symbol_table(table, vocabulary_size):
    if isinstance(table, dict):
        table = SymbolTable.from_dict(table)
    if not isinstance(table, SymbolTable):
        raise ValueError(
            "`symbol_table` must be a kss.text.SymbolTable or its to_dict(); got "
            f"{type(table).__name__}."
        )
    if table.vocabulary_size > vocabulary_size:
        raise ValueError(
            f"`symbol_table` gives {table.vocabulary_size} text ids, more than the model's "
            f"text_vocabulary_size ({vocabulary_size})."
        )
    return table


def _ids_and_mask(name, ids, lengths, unbatched, low, high, minimum_length=1):
    """Checked int32 ids `[B, T]` and their bool padding mask (from `lengths`)."""
    array = np.asarray(ids)
    if unbatched:
        array = array[None]
    if array.ndim != 2 or array.shape[1] == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"`{name}` must be a non-empty int array [B, T] (or [T]); got shape "
            f"{np.shape(ids)} of {np.asarray(ids).dtype}."
        )
    width = array.shape[1]
    if lengths is None:
        lengths = np.full((array.shape[0],), width)
    lengths = np.asarray(lengths).reshape(-1)
    if lengths.shape[0] != array.shape[0] or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"The lengths of `{name}` must be one int per row ({array.shape[0]}).")
    if np.any(lengths < minimum_length) or np.any(lengths > width):
        raise ValueError(
            f"The lengths of `{name}` must be in [{minimum_length}, {width}]; got {lengths}."
        )
    mask = np.arange(width)[None] < lengths[:, None]
    real = array[mask]
    if real.size and (real.min() < low or real.max() >= high):
        raise ValueError(
            f"`{name}` must hold ids in [{low}, {high - 1}]; got values in "
            f"[{real.min()}, {real.max()}]."
        )
    return np.where(mask, array, 0).astype("int32"), mask
