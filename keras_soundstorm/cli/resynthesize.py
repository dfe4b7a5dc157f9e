"""`keras-soundstorm resynthesize`: over `pipelines.resynthesize_files`."""


def resynthesize(args):
    from keras_soundstorm import pipelines

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
