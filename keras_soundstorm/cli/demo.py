"""`keras-soundstorm demo` and `evaluate`: over `run_demo`, `run_table1`, `run_codec_evaluation`."""

from keras_soundstorm.cli.checks import check_output, check_preset, require


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


def evaluate(args):
    from keras_soundstorm.evaluation.codec_runner import run_codec_evaluation
    from keras_soundstorm.evaluation.table1 import run_table1

    require("--num-sentences", args.num_sentences)
    require("--lm-group-size", args.lm_group_size)
    if not args.codec_only:
        check_preset("--model", args.model)
    check_preset("--codec", args.codec)
    check_output("--output", args.output, "directory")
    if args.codec_only:
        run_codec_evaluation(
            args.codec, args.output, args.num_sentences or 20, record=args.record_in_preset
        )
    else:
        run_table1(
            args.model,
            args.codec,
            args.output,
            args.num_sentences,
            args.seed,
            group_size=args.lm_group_size,
            record=args.record_in_preset,
        )
