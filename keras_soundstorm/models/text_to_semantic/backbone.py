"""TextToSemanticBackbone: text ids + semantic tokens -> prefix-LM transformer states."""

import keras
import keras_hub
from keras import layers

from keras_soundstorm.models.backbone_presets import BackbonePresets
from keras_soundstorm.models.text_to_semantic.positions import ScaledSinusoidalPosition
from keras_soundstorm.models.text_to_semantic.prefix_decoder import PrefixDecoder
from keras_soundstorm.utils.validation import require_int, require_real


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class TextToSemanticBackbone(BackbonePresets, keras_hub.models.Backbone):
    """The autoregressive text -> semantic-token transformer of VALL-E / USLM.

    Text ids and semantic tokens get their own embedding tables and their own
    sinusoidal positions (each from 0, scaled by a learned `alpha`), then run
    as one sequence `[text; semantic]` through transformer blocks with a
    prefix-LM mask: text attends to all text, a semantic token to all text and
    to the semantic tokens up to itself. Semantic id `codebook_size` is end of
    speech (also the padding value); there is no semantic BOS.

    Args:
        text_vocabulary_size: rows of the text table (512 for USLM).
        codebook_size: semantic codes (1024 for SpeechTokenizer RVQ-1); the
            semantic table has `codebook_size + 1` rows.
        hidden_dim, num_layers, num_heads, intermediate_dim: transformer sizes
            (USLM: 1024, 12, 16, 4096).
        dropout: dropout of positions, attention and feed-forward when
            training (USLM trained with 0.1).
        layer_norm_epsilon: epsilon of the LayerNorms.
        norm_first: pre-LN blocks plus a final LayerNorm (True, USLM) or
            post-LN blocks and no final norm.
        dtype: a dtype policy, e.g. `"mixed_bfloat16"`.

    Inputs: dict `"text_ids"` int `[B, Tt]`, `"text_padding_mask"` bool
    `[B, Tt]`, `"semantic"` int `[B, Ts]`, `"semantic_padding_mask"` bool
    `[B, Ts]` (True on real tokens). Output: float `[B, Ts, hidden_dim]`, the
    states of the semantic positions (position `j` predicts token `j + 1`).

    Example:
    ```python
    backbone = kss.TextToSemanticBackbone(
        text_vocabulary_size=64, codebook_size=32, hidden_dim=32, num_layers=2,
        num_heads=2, intermediate_dim=64)
    hidden = backbone({
        "text_ids": np.ones((1, 5), "int32"), "text_padding_mask": np.ones((1, 5), bool),
        "semantic": np.zeros((1, 7), "int32"), "semantic_padding_mask": np.ones((1, 7), bool)})
    ```

    Reference: [VALL-E](https://arxiv.org/abs/2301.02111) as used by
    [USLM / SpeechTokenizer](https://arxiv.org/abs/2308.16692).
    """

    def __init__(
        self,
        text_vocabulary_size,
        codebook_size,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        layer_norm_epsilon=1e-5,
        norm_first=True,
        dtype=None,
        **kwargs,
    ):
        _validate_args(
            text_vocabulary_size, codebook_size, hidden_dim, num_layers, num_heads,
            intermediate_dim, dropout, layer_norm_epsilon, norm_first,
        )  # fmt: skip
        # === Layers ===
        self.text_embedding = layers.Embedding(
            text_vocabulary_size, hidden_dim, dtype=dtype, name="text_embedding"
        )
        self.semantic_embedding = layers.Embedding(
            codebook_size + 1, hidden_dim, dtype=dtype, name="semantic_embedding"
        )
        self.text_position = ScaledSinusoidalPosition(
            hidden_dim, dropout=dropout, dtype=dtype, name="text_position"
        )
        self.semantic_position = ScaledSinusoidalPosition(
            hidden_dim, dropout=dropout, dtype=dtype, name="semantic_position"
        )
        self.decoder = PrefixDecoder(
            num_layers, hidden_dim, num_heads, intermediate_dim, dropout=dropout,
            layer_norm_epsilon=layer_norm_epsilon, norm_first=norm_first, dtype=dtype,
            name="decoder",
        )  # fmt: skip

        # === Functional Model ===
        inputs = {
            "text_ids": keras.Input(shape=(None,), dtype="int32", name="text_ids"),
            "text_padding_mask": keras.Input(shape=(None,), dtype="bool", name="text_padding_mask"),
            "semantic": keras.Input(shape=(None,), dtype="int32", name="semantic"),
            "semantic_padding_mask": keras.Input(
                shape=(None,), dtype="bool", name="semantic_padding_mask"
            ),
        }
        text = self.text_position(self.text_embedding(inputs["text_ids"]))
        semantic = self.semantic_position(self.semantic_embedding(inputs["semantic"]))
        hidden = self.decoder(
            text, semantic, inputs["text_padding_mask"], inputs["semantic_padding_mask"]
        )
        super().__init__(inputs=inputs, outputs=hidden, dtype=dtype, **kwargs)

        # === Config ===
        self.text_vocabulary_size = text_vocabulary_size
        self.codebook_size = codebook_size
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.norm_first = norm_first

    @property
    def end_of_speech_id(self):
        """The semantic id that ends an utterance (and pads): `codebook_size`."""
        return self.codebook_size

    def embed_text(self, text_ids):
        """int `[B, Tt]` -> float `[B, Tt, D]` (embedding + positions 0 ..)."""
        return self.text_position(self.text_embedding(text_ids))

    def embed_semantic(self, semantic, positions):
        """int `[B, T]` tokens at int `[B, T]` positions -> float `[B, T, D]`."""
        return self.semantic_position(self.semantic_embedding(semantic), positions)

    def empty_cache(self, batch_size, length):
        """A zero key/value cache: one `(keys, values)` pair per layer (a tuple),
        each `[B, H, length, D/H]` (`SelfAttention.empty_cache`).

        One pair per layer, not one stacked tensor: a decoding step then
        writes each layer's new keys and values in place instead of rebuilding
        the whole cache.
        """
        return tuple(
            block.attention.empty_cache(batch_size, length) for block in self.decoder.blocks
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "text_vocabulary_size": self.text_vocabulary_size,
                "codebook_size": self.codebook_size,
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "norm_first": self.norm_first,
            }
        )
        return config


def parameter_count(
    text_vocabulary_size, codebook_size, hidden_dim, num_layers, intermediate_dim,
    norm_first=True, **unused,
):  # fmt: skip
    """Parameters of a `TextToSemantic` (backbone and output head) of these sizes."""
    d, f = hidden_dim, intermediate_dim
    block = (3 * d * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d) + 2 * 2 * d
    embeddings = text_vocabulary_size * d + (codebook_size + 1) * d + 2  # + the two alphas
    head = d * (codebook_size + 1)
    return num_layers * block + embeddings + head + (2 * d if norm_first else 0)


def _validate_args(
    text_vocabulary_size, codebook_size, hidden_dim, num_layers, num_heads,
    intermediate_dim, dropout, layer_norm_epsilon, norm_first,
):  # fmt: skip
    require_int("text_vocabulary_size", text_vocabulary_size, minimum=1)
    require_int("codebook_size", codebook_size, minimum=1)
    require_int("hidden_dim", hidden_dim, minimum=2)
    require_int("num_layers", num_layers, minimum=1)
    require_int("num_heads", num_heads, minimum=1)
    require_int("intermediate_dim", intermediate_dim, minimum=1)
    if hidden_dim % num_heads or hidden_dim % 2:
        raise ValueError(
            f"`hidden_dim` ({hidden_dim}) must be even and divisible by `num_heads` ({num_heads})."
        )
    require_real("dropout", dropout, minimum=0)
    if dropout >= 1:
        raise ValueError(f"`dropout` must be in [0, 1); got {dropout}.")
    require_real("layer_norm_epsilon", layer_norm_epsilon, minimum=0, exclusive_minimum=True)
    if not isinstance(norm_first, bool):
        raise ValueError(f"`norm_first` must be True or False; got {norm_first!r}.")
