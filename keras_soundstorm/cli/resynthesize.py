"""`keras-soundstorm resynthesize`: over `pipelines.resynthesize_files`."""

from keras_soundstorm.cli.checks import check_input_file, check_output, check_preset


def resynthesize(args):
    from keras_soundstorm import pipelines

    # Before any model is loaded: a bad path fails in a second, not after the work.
    check_preset("--model", args.model)
    check_preset("--codec", args.codec)
    check_input_file("--source", args.source)
    check_input_file("--prompt", args.prompt)
    check_output("--output", args.output, "file")
    result = pipelines.resynthesize_files(
        args.model,
        args.codec,
        args.source,
        args.prompt,
        args.output,
        prompt_seconds=args.prompt_seconds,
        window_seconds=args.window_seconds,
        seed=args.seed,
        steps_per_level=args.steps,
    )
    seconds = result.num_samples / result.sample_rate
    print(
        f"Wrote {args.output}: {seconds:.2f} s at {result.sample_rate} Hz in "
        f"{len(result.windows)} window(s)."
    )
