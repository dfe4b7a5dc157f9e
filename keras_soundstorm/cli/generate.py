"""`keras-soundstorm generate`: `SoundStorm.generate` from .npy inputs to a .npy file."""

import io
import time

from keras_soundstorm.cli.checks import check_input_file, check_output, check_preset


def generate(args):
    import numpy as np

    from keras_soundstorm.models.soundstorm import SoundStorm
    from keras_soundstorm.utils.files import atomic_write_bytes

    check_preset("--preset", args.preset)
    check_input_file("--conditioning", args.conditioning)
    check_input_file("--prompt", args.prompt)
    check_output("--output", args.output, "file")
    model = SoundStorm.from_preset(args.preset)
    start = time.time()
    # `generate` checks every value (decoding settings, inputs) once.
    codes = model.generate(
        conditioning=np.load(args.conditioning) if args.conditioning else None,
        prompt_codes=np.load(args.prompt) if args.prompt else None,
        num_frames=args.num_frames,
        steps_per_level=args.steps_per_level,
        temperature=args.temperature,
        top_k=args.top_k,
        guidance_scale=args.guidance_scale,
        seed=args.seed,
    )
    buffer = io.BytesIO()
    np.save(buffer, codes)  # to the exact path given (np.save would append ".npy")
    atomic_write_bytes(args.output, buffer.getvalue())
    print(f"Wrote {args.output}: codes {codes.shape} in {time.time() - start:.2f} s.")
