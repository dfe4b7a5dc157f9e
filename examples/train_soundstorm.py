"""Trains a small SoundStorm on the eSpeak corpus, tokenized by a trained codec (resumable).

    python examples/train_soundstorm.py --codec saved_models/soundstream_espeak_16khz \
        --work-dir outputs/soundstorm --output saved_models/soundstorm_espeak_small

Conditioning = the corpus's frame-aligned phonemes at 25 Hz (r = 2). Each
training voice's sentences are tokenized back to back into one record, so the
random crops `fit` sees span sentence boundaries and the masking's prompt
(a random prefix) is often another sentence by the same voice: the model
learns to continue a voice from a prompt onto new text. Held-out sentences
and voices are never seen. Tokens are written once to `WORK_DIR/tokens`;
weights and optimizer state are backed up every epoch to `WORK_DIR/backup`
and a rerun with the same arguments resumes (raise `--epochs` to train
longer). Wall time accumulates in `WORK_DIR/wall_time.json`.

`--init-from PRESET` continues training a SoundStorm preset (its architecture;
the `--hidden-dim`, `--num-layers` and `--num-heads` arguments are then unused)
with a fresh optimizer and schedule; its metadata's steps and wall time are
added to this run's in the new preset's metadata. `--conditioning-dropout P`
trains with classifier-free guidance's null conditioning (a preset trained
without it learns one when continued).
"""

import argparse
import glob
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402

import keras_soundstorm as kss  # noqa: E402
from keras_soundstorm import training  # noqa: E402
from keras_soundstorm.codecs import SoundStream  # noqa: E402
from keras_soundstorm.data import (  # noqa: E402
    EspeakCorpus,
    read_token_metadata,
    token_dataset,
    tokenize,
)
from keras_soundstorm.models.soundstorm import prompting  # noqa: E402


def new_model(args, codec, corpus, rate_ratio):
    backbone = kss.SoundStormBackbone(
        num_levels=codec.num_levels,
        codebook_size=codec.codebook_size,
        conditioning_vocabulary_size=corpus.phoneme_vocabulary_size,
        conditioning_rate_ratio=rate_ratio,
        hidden_dim=args.hidden_dim,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        intermediate_dim=4 * args.hidden_dim,
        conv_kernel_size=5,
        conditioning_dropout=args.conditioning_dropout or 0.0,
    )
    return kss.SoundStorm(backbone, seed=args.seed)


def continued_model(preset, codec, corpus, rate_ratio, conditioning_dropout):
    """The preset's model, checked against the tokens, and its training metadata."""
    model = kss.SoundStorm.from_preset(preset)
    if conditioning_dropout not in (None, model.backbone.conditioning_dropout):
        model = training.with_conditioning_dropout(model, conditioning_dropout)
    prompting.check_compatible(model, codec, corpus)
    if model.backbone.conditioning_rate_ratio != rate_ratio:
        raise ValueError(
            f"--init-from {preset} takes conditioning at 1/"
            f"{model.backbone.conditioning_rate_ratio} of the frame rate; these tokens' is "
            f"1/{rate_ratio}."
        )
    return model, training.preset_training_record(preset)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--codec", default="saved_models/soundstream_espeak_16khz")
    parser.add_argument("--work-dir", default="outputs/soundstorm")
    parser.add_argument("--output", default="saved_models/soundstorm_espeak_small")
    parser.add_argument("--epochs", type=int, default=22)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-frames", type=int, default=300)
    parser.add_argument("--hidden-dim", type=int, default=192)
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--warmup-steps", type=int, default=200)
    parser.add_argument("--voices-per-sentence", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-from", help="a SoundStorm preset to continue training")
    parser.add_argument(
        "--conditioning-dropout",
        type=float,
        default=None,
        help="fraction of examples trained with a null conditioning (classifier-free "
        "guidance; default 0, or the --init-from preset's); a preset trained without "
        "it learns one",
    )
    args = parser.parse_args()

    rate_ratio = 2
    os.makedirs(args.work_dir, exist_ok=True)
    codec = SoundStream.from_preset(args.codec)
    corpus = EspeakCorpus(frame_multiple=rate_ratio)
    prefix = os.path.join(args.work_dir, "tokens", "train")
    if not glob.glob(prefix + ".json"):
        os.makedirs(os.path.dirname(prefix), exist_ok=True)
        pairs = corpus.split("train", voices_per_sentence=args.voices_per_sentence)
        tokenize.tokenize_to_records(
            codec,
            tokenize.espeak_voice_streams(codec, corpus, pairs, rate_ratio),
            prefix,
            corpus.phoneme_vocabulary_size,
            rate_ratio,
            progress=False,
        )
    metadata = read_token_metadata(prefix)
    print(f"Tokens: {metadata}")
    data = token_dataset(
        prefix, args.batch_size, args.max_frames, seed=args.seed, repeat=True, drop_remainder=True
    )

    keras.utils.set_random_seed(args.seed)
    if args.init_from:
        model, earlier = continued_model(
            args.init_from, codec, corpus, rate_ratio, args.conditioning_dropout
        )
    else:
        model, earlier = new_model(args, codec, corpus, rate_ratio), None
    total_steps = args.epochs * args.steps_per_epoch
    model.compile(
        optimizer=training.make_optimizer(
            args.learning_rate, total_steps, warmup_steps=args.warmup_steps, alpha=0.1
        )
    )
    callbacks, wall_time = training.recipe_callbacks(args.work_dir)
    model.fit(data, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, callbacks=callbacks)
    provenance = training.training_record(
        "examples/train_soundstorm.py",
        args,
        total_steps,
        wall_time.seconds,
        init_from=args.init_from,
        earlier=earlier,
        trained_on=(
            f"eSpeak corpus, split 'train': {metadata.get('num_examples', '?')} voice streams of "
            f"{args.voices_per_sentence} voices per sentence, tokenized by {args.codec}"
        ),
        codec=os.path.basename(os.path.normpath(args.codec)),
        batch=f"{args.batch_size} random crops of {args.max_frames} frames",
    )
    model.save_to_preset(args.output, metadata={"training": provenance})
    print(f"Saved {args.output} after {provenance['training_wall_time_minutes']} min of training.")


if __name__ == "__main__":
    try:
        main()
    except ValueError as error:  # bad input: the message says what is accepted
        raise SystemExit(f"train_soundstorm.py: error: {error}") from None
