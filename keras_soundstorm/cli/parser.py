"""The `keras-soundstorm` argument parser: every command and flag, in one place.

Each command's body is in its own module of this package (see `main.COMMANDS`).
"""

import argparse
import math


class Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line: `PROG: error: MESSAGE` (exit 2).

    argparse names the flag in MESSAGE ("argument --seed: ..."); the usage is
    left to `--help`. Subcommand parsers are of this class too.
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def finite_float(text):
    """The `type` of every float flag: a finite number (no NaN, inf or words)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a finite number; got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"takes a finite number; got {text!r}")
    return value


def integer(text):
    """The `type` of every int flag: an int, written in digits (no 1.5, 1e3, nan or words)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes an int; got {text!r}") from None


def parse_steps(text):
    """`--steps-per-level` / `--steps`: "16,1,1" -> (16, 1, 1)."""
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"takes comma-separated ints, e.g. 16,1,1; got {text!r}"
        ) from None


def build_parser():
    """The parser of `keras-soundstorm [--backend B] [--dtype D] COMMAND ...`."""
    parser = Parser(
        prog="keras-soundstorm", description="SoundStorm for Keras 3 (JAX, TensorFlow, PyTorch)."
    )
    parser.add_argument(
        "--backend", choices=("jax", "tensorflow", "torch"), help="Keras backend (default: Keras')"
    )
    parser.add_argument("--dtype", help="dtype policy, e.g. float32 or mixed_bfloat16")
    commands = parser.add_subparsers(dest="command", required=True)

    quick = commands.add_parser(
        "quickstart", help="train a tiny model on a toy task, generate, check and export"
    )
    quick.add_argument("--output", default="outputs/quickstart", help="output directory")
    quick.add_argument("--epochs", type=integer, default=25)

    train = commands.add_parser("train", help="train a SoundStorm and save it as a preset")
    train.add_argument("--config", default="tiny", help="tiny | small | paper | a config.json path")
    train.add_argument(
        "--data", help="TFRecord pattern from write_token_records (default: toy task)"
    )
    train.add_argument("--output", required=True, help="preset directory to write")
    train.add_argument("--epochs", type=integer, default=10)
    train.add_argument("--steps-per-epoch", type=integer)
    train.add_argument("--batch-size", type=integer, default=16)
    train.add_argument("--max-frames", type=integer, default=128)
    train.add_argument(
        "--learning-rate", type=finite_float, default=3e-4, help="peak learning rate"
    )
    train.add_argument(
        "--warmup-steps",
        type=integer,
        default=0,
        help="steps of linear warm-up from 0; then cosine decay to 0.1 x the peak at the last step",
    )
    train.add_argument(
        "--gradient-accumulation-steps",
        type=integer,
        default=1,
        help="update the weights every N steps with the mean gradient (effective batch x N)",
    )
    train.add_argument("--seed", type=integer, default=0)
    train.add_argument(
        "--resume-dir",
        help="checkpoints for resuming (default: OUTPUT.backup); rerun with the same arguments",
    )
    train.add_argument("--log-dir", help="TensorBoard log directory (needs tensorboard)")

    generate = commands.add_parser("generate", help="generate codes with a preset")
    generate.add_argument("--preset", required=True)
    generate.add_argument("--conditioning", help=".npy int array [B, T/r] or [T/r]")
    generate.add_argument("--prompt", help=".npy int array [B, P, Q] or [P, Q] of prompt codes")
    generate.add_argument("--num-frames", type=integer)
    generate.add_argument("--steps-per-level", type=parse_steps)
    generate.add_argument("--temperature", type=finite_float, help="default: the preset's")
    generate.add_argument("--top-k", type=integer, help="default: the preset's")
    generate.add_argument(
        "--guidance-scale",
        type=finite_float,
        help="classifier-free guidance weight (models trained with conditioning dropout); "
        "default: the preset's",
    )
    generate.add_argument("--seed", type=integer)
    generate.add_argument("--output", required=True, help=".npy file for the codes")

    export = commands.add_parser(
        "export", help="export a SoundStorm or TextToSemantic preset as a TF SavedModel"
    )
    export.add_argument(
        "--preset", required=True, help="a SoundStorm or TextToSemantic preset (its kind is read)"
    )
    export.add_argument(
        "--output", required=True, help="model directory for TF Serving, e.g. models/soundstorm"
    )
    export.add_argument(
        "--version",
        type=integer,
        help="version subdirectory (default: one past the highest present)",
    )
    export.add_argument("--steps-per-level", type=parse_steps, help="SoundStorm")
    export.add_argument(
        "--max-new-tokens",
        type=integer,
        help="TextToSemantic: new tokens at most per example, fixed in the SavedModel "
        "(default 1000: 20 s at 50 Hz)",
    )
    export.add_argument(
        "--temperature", type=finite_float, help="TextToSemantic sampling (default 1)"
    )
    export.add_argument(
        "--top-k", type=integer, help="TextToSemantic sampling (default: none; 1: greedy)"
    )
    export.add_argument("--top-p", type=finite_float, help="TextToSemantic sampling (default 1)")

    tokenize = commands.add_parser(
        "tokenize", help="encode audio (a folder, or the eSpeak corpus) into TFRecords"
    )
    tokenize.add_argument(
        "--codec", required=True, help="codec preset (any kss.codecs codec: directory or name)"
    )
    source = tokenize.add_mutually_exclusive_group(required=True)
    source.add_argument("--audio-dir", help="folder of audio files (unconditional records)")
    source.add_argument(
        "--espeak",
        choices=("train", "heldout_sentences", "heldout_voices", "heldout_both"),
        help="an eSpeak corpus split (phoneme conditioning)",
    )
    tokenize.add_argument("--output", required=True, help="record path prefix")
    tokenize.add_argument(
        "--rate-ratio", type=integer, default=2, help="frames per conditioning token"
    )
    tokenize.add_argument(
        "--num-shards",
        type=integer,
        default=4,
        help="record files to write (default 4; capped at the number of examples, so no "
        "file is empty)",
    )
    tokenize.add_argument(
        "--overwrite", action="store_true", help="replace records already at --output"
    )
    tokenize.add_argument("--voices-per-sentence", type=integer, default=4)

    info = commands.add_parser("info", help="versions, devices and (optionally) a preset")
    info.add_argument("preset", nargs="?")

    from keras_soundstorm import demo_defaults as demo_module

    demo = commands.add_parser(
        "demo", help="speak a sentence in the voice of a 3 s eSpeak prompt (shipped presets)"
    )
    demo.add_argument("--text", default=demo_module.DEFAULT_TEXT, help="English sentence")
    demo.add_argument(
        "--voice",
        default=demo_module.DEFAULT_VOICE,
        help="eSpeak corpus voice, e.g. en-us+m3/p50/r150",
    )
    demo.add_argument("--output", default="outputs/demo", help="output directory")
    demo.add_argument("--model", default=demo_module.DEFAULT_MODEL, help="SoundStorm preset")
    demo.add_argument("--codec", default=demo_module.DEFAULT_CODEC, help="SoundStream preset")
    demo.add_argument("--seed", type=integer, default=0)

    evaluate = commands.add_parser(
        "evaluate",
        help="Table 1 (WER with Whisper, DNSMOS, voice preservation, acoustic consistency) on a "
        "test set of recordings, or on held-out eSpeak sentences (markdown + JSON + PNG)",
    )
    evaluate.add_argument("--model", default=demo_module.DEFAULT_MODEL, help="SoundStorm preset")
    evaluate.add_argument(
        "--codec", default=demo_module.DEFAULT_CODEC, help="codec preset (SoundStream or "
        "SpeechTokenizer)"
    )  # fmt: skip
    evaluate.add_argument("--output", default="outputs/evaluation", help="output directory")
    evaluate.add_argument(
        "--test-set",
        help="folder of recordings with transcripts (LibriSpeech *.flac + *.trans.txt, or "
        "name.wav + name.txt); every speaker needs >= 2 utterances (the prompt). Without it: "
        "the eSpeak Table 1 of an eSpeak pair",
    )
    evaluate.add_argument(
        "--max-utterances", type=integer, help="--test-set: evaluate this many, drawn with --seed"
    )
    evaluate.add_argument(
        "--prompt-seconds",
        type=finite_float,
        default=3.0,
        help="--test-set: prompt length (other utterances of the speaker)",
    )
    evaluate.add_argument(
        "--num-sentences",
        type=integer,
        help="eSpeak: held-out sentences per voice group (default: all 40; 20 with --codec-only)",
    )
    evaluate.add_argument(
        "--asr",
        choices=("whisper", "pocketsphinx"),
        default="whisper",
        help="eSpeak Table 1: Whisper base (default), or PocketSphinx with sentence-group "
        "language models (the earlier measure)",
    )
    evaluate.add_argument(
        "--lm-group-size",
        type=integer,
        default=8,
        help="--asr pocketsphinx: sentences per language model of the sensitive WER (groups "
        "fixed by sentence id, the spoken sentence among them)",
    )
    evaluate.add_argument(
        "--codec-only",
        action="store_true",
        help="only the codec: speaker cosine and MCD of reconstructions at every bitrate",
    )
    evaluate.add_argument("--seed", type=integer, default=0)
    evaluate.add_argument(
        "--record-in-preset",
        action="store_true",
        help="also store the numbers in the evaluated preset's metadata.json "
        "(the codec's with --codec-only, else the SoundStorm preset's)",
    )
    convert = commands.add_parser(
        "convert", help="convert a public PyTorch checkpoint into a preset (needs torch)"
    )
    converters = convert.add_subparsers(dest="converter", required=True)
    speechtokenizer = converters.add_parser(
        "speechtokenizer",
        help="a SpeechTokenizer codec (config.json + state dict) -> kss.codecs.SpeechTokenizer",
    )
    speechtokenizer.add_argument("--config", required=True, help="the checkpoint's config.json")
    speechtokenizer.add_argument(
        "--checkpoint", required=True, help="the state dict, e.g. SpeechTokenizer.pt or ckpt.dev"
    )
    speechtokenizer.add_argument("--output", required=True, help="preset directory to write")
    soundstorm = converters.add_parser(
        "soundstorm-speechtokenizer",
        help="a SpeechTokenizer-SoundStorm (soundstorm_pytorch state dict) -> kss.SoundStorm "
        "(its level q is RVQ level q + 2, conditioned on RVQ level 1)",
    )
    soundstorm.add_argument(
        "--checkpoint", required=True, help="the state dict, e.g. SoundStorm_best_dev.pt"
    )
    soundstorm.add_argument(
        "--num-heads",
        type=integer,
        default=8,
        help="attention heads, which the shapes do not determine (default 8, the public files')",
    )
    soundstorm.add_argument("--output", required=True, help="preset directory to write")
    uslm = converters.add_parser(
        "uslm",
        help="USLM's text-to-semantic stage (USLM.pt, its ar_* tensors) -> kss.TextToSemantic",
    )
    uslm.add_argument("--checkpoint", required=True, help="USLM.pt")
    uslm.add_argument(
        "--symbols", required=True, help="its phoneme table, unique_text_tokens.k2symbols"
    )
    uslm.add_argument(
        "--num-heads",
        type=integer,
        default=16,
        help="attention heads, which the shapes do not determine (default 16, USLM's)",
    )
    uslm.add_argument("--output", required=True, help="preset directory to write")
    resynthesize = commands.add_parser(
        "resynthesize",
        help="say a source recording's words in a prompt's voice (converted "
        "SpeechTokenizer-SoundStorm pair)",
    )
    resynthesize.add_argument("--model", required=True, help="SoundStorm preset directory")
    resynthesize.add_argument("--codec", required=True, help="SpeechTokenizer preset directory")
    resynthesize.add_argument("--source", required=True, help="audio whose words are said")
    resynthesize.add_argument("--prompt", required=True, help="audio of the voice to say them in")
    resynthesize.add_argument("--output", required=True, help="WAV file to write")
    resynthesize.add_argument(
        "--prompt-seconds", type=finite_float, default=3.0, help="voice prompt length (default 3)"
    )
    resynthesize.add_argument(
        "--window-seconds",
        type=finite_float,
        default=20.0,
        help="seconds per generation window, prompt included (default 20)",
    )
    resynthesize.add_argument(
        "--steps", type=parse_steps, help="steps per level, e.g. 16,1,1 (default: the preset's)"
    )
    resynthesize.add_argument("--seed", type=integer, default=0)
    _add_speech_commands(commands)
    return parser


def _add_speech_commands(commands):
    """`speak` and `dialogue`: text in a voice through text-to-semantic + SoundStorm + codec."""
    speak = commands.add_parser(
        "speak", help="say new text in a prompt's voice (text-to-semantic + SoundStorm + codec)"
    )
    speak.add_argument("--text", required=True, help="what to say")
    speak.add_argument("--prompt", required=True, help="audio of the voice (any rate)")
    speak.add_argument("--prompt-text", required=True, help="what the prompt says")
    dialogue = commands.add_parser(
        "dialogue", help="speak a script of 'NAME: text' lines, each in its speaker's voice"
    )
    dialogue.add_argument("--script", required=True, help="text file of 'NAME: text' lines")
    dialogue.add_argument(
        "--speaker",
        nargs=3,
        action="append",
        metavar=("NAME", "WAV", "TRANSCRIPT"),
        help="a speaker of the script: name, voice recording, what it says (repeat per speaker)",
    )
    dialogue.add_argument(
        "--pause-seconds",
        type=finite_float,
        default=0.2,
        help="silence between turns (default 0.2)",
    )
    for command, output in [(speak, "WAV file to write"), (dialogue, "WAV file (+ .json turns)")]:
        command.add_argument(
            "--text-to-semantic", required=True, help="TextToSemantic preset directory"
        )
        command.add_argument("--model", required=True, help="SoundStorm preset directory")
        command.add_argument("--codec", required=True, help="SpeechTokenizer preset directory")
        command.add_argument("--output", required=True, help=output)
        command.add_argument(
            "--prompt-seconds",
            type=finite_float,
            default=3.0,
            help="seconds of the voice's end used as SoundStorm's acoustic prompt (default 3)",
        )
        command.add_argument(
            "--window-seconds",
            type=finite_float,
            default=20.0,
            help="seconds per SoundStorm window, prompt included (default 20)",
        )
        command.add_argument(
            "--temperature", type=finite_float, default=1.0, help="text-to-semantic"
        )
        command.add_argument("--top-k", type=integer, help="text-to-semantic (default: none)")
        command.add_argument("--top-p", type=finite_float, default=1.0, help="text-to-semantic")
        command.add_argument(
            "--steps", type=parse_steps, help="SoundStorm steps per level, e.g. 16,1,1"
        )
        command.add_argument("--seed", type=integer, default=0)
