"""The `keras-soundstorm` command line: a parser, and one module per command (or pair).

Each command parses its flags, calls one public Python function and prints.
"""

from keras_soundstorm.cli.main import COMMANDS, main
from keras_soundstorm.cli.parser import build_parser

__all__ = ["COMMANDS", "build_parser", "main"]
