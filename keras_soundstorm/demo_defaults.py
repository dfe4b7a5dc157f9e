"""The demo's defaults, in a module of their own so the CLI parser shows them without
importing the demo (which imports Keras and keras-hub)."""

DEFAULT_MODEL = "soundstorm_espeak_small"  # shipped presets, loaded by name
DEFAULT_CODEC = "soundstream_espeak_16khz"
DEFAULT_TEXT = "The old lighthouse keeper watched the storm roll in from the sea."
DEFAULT_VOICE = "en-us+f2/p50/r150"
