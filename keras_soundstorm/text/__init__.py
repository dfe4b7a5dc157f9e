"""Text frontend: English text -> a text-to-semantic checkpoint's phoneme ids.

eSpeak NG (from `espeakng-loader`) phonemizes exactly as the USLM checkpoint's
training data was (phonemizer 3.2's eSpeak backend, en-us, punctuation kept,
no stress); `SymbolTable` reads the checkpoint's k2symbols file.
"""

from keras_soundstorm.text.frontend import TextFrontend, split_symbols, text_to_symbols
from keras_soundstorm.text.phonemize import PUNCTUATION_MARKS, phonemize
from keras_soundstorm.text.symbol_table import SymbolTable

__all__ = [
    "PUNCTUATION_MARKS",
    "SymbolTable",
    "TextFrontend",
    "phonemize",
    "split_symbols",
    "text_to_symbols",
]
