"""`keras-soundstorm demo`: over `run_demo` (`evaluate` is in `cli/evaluate.py`)."""

from keras_soundstorm.cli.checks import check_output, check_preset


def demo(args):
    from keras_soundstorm.demo import run_demo

    check_preset("--model", args.model)
    check_preset("--codec", args.codec)
    check_output("--output", args.output, "directory")
    run_demo(
        args.output,
        text=args.text,
        voice=args.voice,
        model_preset=args.model,
        codec_preset=args.codec,
        seed=args.seed,
    )
