"""Named `TextToSemanticBackbone` configurations and USLM's text-id conventions."""

# USLM's AR model (lifeiteng VALL-E as trained for USLM on LibriTTS): 153.8 M parameters.
USLM = dict(
    text_vocabulary_size=512,
    codebook_size=1024,
    hidden_dim=1024,
    num_layers=12,
    num_heads=16,
    intermediate_dim=4096,
    dropout=0.1,
    layer_norm_epsilon=1e-5,
    norm_first=True,
)

# For tests and toy runs.
TINY = dict(
    text_vocabulary_size=64,
    codebook_size=32,
    hidden_dim=32,
    num_layers=2,
    num_heads=2,
    intermediate_dim=64,
    dropout=0.0,
    layer_norm_epsilon=1e-5,
    norm_first=True,
)

TEXT_TO_SEMANTIC_CONFIGS = {"uslm": USLM, "tiny": TINY}

# Text ids 0, 1, 2 of USLM's table; the phoneme symbols follow, sorted.
PAD_SYMBOL, BOS_SYMBOL, EOS_SYMBOL = "<pad>", "<bos>", "<eos>"
# USLM stops an utterance after this many semantic tokens per text id (+1).
TOKENS_PER_TEXT_ID = 16
