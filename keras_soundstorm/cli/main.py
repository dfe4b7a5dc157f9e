"""`keras-soundstorm` entry point: parse, run one command, turn bad input into one error line.

`--backend` re-runs the command with `KERAS_BACKEND` set, because Keras picks
its backend once, at import.
"""

import os
import re
import sys

from keras_soundstorm.cli.convert import convert
from keras_soundstorm.cli.demo import demo
from keras_soundstorm.cli.evaluate import evaluate
from keras_soundstorm.cli.export import export
from keras_soundstorm.cli.generate import generate
from keras_soundstorm.cli.info import info
from keras_soundstorm.cli.parser import build_parser
from keras_soundstorm.cli.resynthesize import resynthesize
from keras_soundstorm.cli.speak import dialogue, speak
from keras_soundstorm.cli.tokenize import tokenize
from keras_soundstorm.cli.train import quickstart, train

COMMANDS = {
    "quickstart": quickstart,
    "train": train,
    "generate": generate,
    "export": export,
    "tokenize": tokenize,
    "info": info,
    "demo": demo,
    "evaluate": evaluate,
    "convert": convert,
    "resynthesize": resynthesize,
    "speak": speak,
    "dialogue": dialogue,
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.backend and os.environ.get("KERAS_BACKEND") != args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
        os.execv(sys.executable, [sys.executable, "-m", "keras_soundstorm.cli", *argv])
    try:
        if args.dtype:
            _set_dtype_policy(args.dtype)
        COMMANDS[args.command](args)
    except (ValueError, OSError) as error:  # bad input: the message says what is accepted
        raise SystemExit(_error_line(args.command, error, argv)) from None
    except Exception as error:
        if type(error).__module__.startswith("tensorflow") and hasattr(error, "message"):
            # tf.errors.OpError, e.g. InvalidArgumentError from a data check
            raise SystemExit(_error_line(args.command, error, argv)) from None
        raise


def _set_dtype_policy(name):
    import keras

    try:
        keras.config.set_dtype_policy(name)
    except (ValueError, TypeError):
        raise ValueError(
            f"--dtype {name!r} is not a dtype policy; use e.g. float32, bfloat16, float16, "
            "mixed_bfloat16 or mixed_float16."
        ) from None


def _error_line(command, error, argv):
    return f"keras-soundstorm {command}: error: {_as_flags(_one_line(error), argv)}"


def _as_flags(text, argv):
    """Shows the Python argument names in `text` (`top_k`) as the flags given (--top-k).

    The commands' functions check their arguments and name them as Python
    does; a user of the CLI set them with flags.
    """
    given = {token.split("=")[0] for token in argv if token.startswith("--")}

    def flag(match):
        option = "--" + match.group(1).replace("_", "-")
        return option if option in given else match.group(0)

    return re.sub(r"`([a-z][a-z0-9_]*)`", flag, text)


def _one_line(error):
    """The message of `error` on one line.

    Errors raised while TensorFlow traces a function arrive wrapped in an
    "in user code:" stack; their last line is the message.
    """
    text = str(getattr(error, "message", None) or error).strip()
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    if "in user code:" in text:
        text = text.splitlines()[-1].strip()
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
