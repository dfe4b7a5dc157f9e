"""Trains a SoundStream codec on the offline eSpeak corpus (resumable).

    python examples/train_codec.py --work-dir outputs/codec \
        --output saved_models/soundstream_espeak_16khz

Renders the corpus's training split (cached), trains on random crops with
`fit` (Keras progress bar), backs up weights and optimizer state every epoch
to `WORK_DIR/backup` and resumes from there when run again with the same
arguments (`--epochs` may be raised to train longer). Wall time accumulates
across runs in `WORK_DIR/wall_time.json`; per-epoch losses go to
`WORK_DIR/history.csv`. The preset is written atomically at the end, with the
training set-up and wall time in its `metadata.json`.

`--init-from PRESET` continues training a codec preset (its architecture; the
architecture arguments are then unused). With `--train decoder` the encoder and
the quantizer are frozen, so every token stays as it was and a SoundStorm
trained on the preset's tokens still fits the new decoder.
"""

import argparse
import math
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_soundstorm import training as kss_training  # noqa: E402
from keras_soundstorm.codecs import SoundStream  # noqa: E402
from keras_soundstorm.data import EspeakCorpus  # noqa: E402


def random_crops(waveforms, batch_size, crop, seed, first_batch=0):
    """An endless `tf.data` stream of random `crop`-sample windows: float `[B, crop]`.

    Window k of the stream is drawn from a stateless RNG keyed on (seed, k), so
    a run resumed at batch `first_batch` sees what an uninterrupted run would.
    (A `keras.utils.PyDataset` doing the same in Python doubled the step time.)
    """
    import tensorflow as tf

    kept = [w for w in waveforms if len(w) >= crop]
    if not kept:
        raise ValueError(f"No utterance is at least {crop} samples long.")
    flat = tf.constant(np.concatenate(kept))
    offsets = tf.constant(np.cumsum([0] + [len(w) for w in kept[:-1]]), tf.int64)
    lengths = tf.constant([len(w) for w in kept], tf.int64)

    def window(index):
        key = tf.stack([tf.constant(seed, tf.int64), index])
        which = tf.random.stateless_uniform([], key, maxval=len(kept), dtype=tf.int64)
        start = tf.random.stateless_uniform(
            [], key + 1, maxval=lengths[which] - crop + 1, dtype=tf.int64
        )
        return flat[offsets[which] + start : offsets[which] + start + crop]

    return (
        tf.data.Dataset.range(first_batch * batch_size, 2**62)
        .map(window, num_parallel_calls=2)
        .batch(batch_size)
        .prefetch(2)
    )


def hold_then_cosine(epoch, learning_rate, epochs, decay_epochs, floor=0.1):
    """`learning_rate` until the last `decay_epochs` epochs, then cosine down to `floor` x.

    Raising `--epochs` of a run still before its decay changes nothing it has run.
    """
    decay_start = epochs - decay_epochs
    if epoch < decay_start:
        return learning_rate
    progress = (epoch - decay_start + 0.5) / decay_epochs
    return learning_rate * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def new_codec(args, sample_rate):
    return SoundStream(
        sample_rate=sample_rate,
        channels=args.channels,
        latent_dim=args.latent_dim,
        num_levels=args.num_levels,
        codebook_size=args.codebook_size,
        encoder=args.encoder,
        encoder_hidden_dim=args.encoder_hidden_dim,
        encoder_num_blocks=args.encoder_num_blocks,
        decoder=args.decoder,
        decoder_hidden_dim=args.decoder_hidden_dim,
        decoder_num_blocks=args.decoder_num_blocks,
        stft_frames_per_frame=args.stft_frames_per_frame,
        seed=args.seed,
    )


def continued_codec(preset, sample_rate, train):
    """The preset's codec (encoder and quantizer frozen if `train == "decoder"`)
    and its training metadata."""
    codec = SoundStream.from_preset(preset)
    if codec.sample_rate != sample_rate:
        raise ValueError(
            f"--init-from {preset} runs at {codec.sample_rate} Hz; the corpus at {sample_rate} Hz."
        )
    if train == "decoder":
        codec.encoder.trainable = False
        codec.quantizer.trainable = False
    return codec, kss_training.preset_training_record(preset)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", default="outputs/codec")
    parser.add_argument("--output", default="saved_models/soundstream_espeak_16khz")
    parser.add_argument("--epochs", type=int, default=110)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop-seconds", type=float, default=0.6)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--latent-dim", type=int, default=64)
    parser.add_argument("--num-levels", type=int, default=4)
    parser.add_argument("--codebook-size", type=int, default=1024)
    parser.add_argument("--encoder", default="stft", choices=("seanet", "stft"))
    parser.add_argument("--encoder-hidden-dim", type=int, default=192)
    parser.add_argument("--encoder-num-blocks", type=int, default=4)
    parser.add_argument("--decoder", default="istft", choices=("seanet", "istft"))
    parser.add_argument("--decoder-hidden-dim", type=int, default=192)
    parser.add_argument("--decoder-num-blocks", type=int, default=6)
    parser.add_argument("--stft-frames-per-frame", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument(
        "--decay-epochs",
        type=int,
        default=30,
        help="cosine-decay the learning rate to 0.1x over the last N epochs (constant before)",
    )
    parser.add_argument("--voices-per-sentence", type=int, default=8)
    parser.add_argument("--frame-multiple", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-from", help="a SoundStream preset to continue training")
    parser.add_argument(
        "--train",
        default="all",
        choices=("all", "decoder"),
        help="'decoder': freeze the encoder and quantizer (needs --init-from; tokens unchanged)",
    )
    args = parser.parse_args()
    if args.train == "decoder" and not args.init_from:
        parser.error("--train decoder fine-tunes a trained codec: give it --init-from PRESET.")

    os.makedirs(args.work_dir, exist_ok=True)
    corpus = EspeakCorpus(frame_multiple=args.frame_multiple)
    pairs = corpus.split("train", voices_per_sentence=args.voices_per_sentence)
    utterances = corpus.utterances(pairs)
    hours = sum(len(u.waveform) for u in utterances) / corpus.sample_rate / 3600
    print(f"Training split: {len(utterances)} utterances, {hours:.2f} h of audio.")

    crop = int(round(args.crop_seconds * corpus.sample_rate))
    callbacks, wall_time = kss_training.recipe_callbacks(args.work_dir)
    dataset = random_crops(
        [u.waveform for u in utterances],
        args.batch_size,
        crop,
        args.seed,
        first_batch=wall_time.epochs_done * args.steps_per_epoch,
    )
    keras.utils.set_random_seed(args.seed)
    if args.init_from:
        codec, earlier = continued_codec(args.init_from, corpus.sample_rate, args.train)
    else:
        codec, earlier = new_codec(args, corpus.sample_rate), None
    if not 0 <= args.decay_epochs <= args.epochs:
        parser.error(f"--decay-epochs must be in [0, --epochs]; got {args.decay_epochs}.")
    codec.compile(
        optimizer=keras.optimizers.Adam(
            args.learning_rate, beta_1=0.5, beta_2=0.9, global_clipnorm=1.0
        )
    )
    codec.fit(
        dataset,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        callbacks=[
            *callbacks,
            # Per epoch, through the optimizer's learning-rate variable: a
            # schedule object would change the optimizer's saved variables.
            keras.callbacks.LearningRateScheduler(
                lambda epoch: hold_then_cosine(
                    epoch, args.learning_rate, args.epochs, args.decay_epochs
                )
            ),
        ],
    )
    training = kss_training.training_record(
        "examples/train_codec.py",
        args,
        args.epochs * args.steps_per_epoch,
        wall_time.seconds,
        init_from=args.init_from,
        earlier=earlier,
        trained_on=(
            f"eSpeak corpus, split 'train' ({len(utterances)} utterances, {hours:.2f} h, "
            f"{len(corpus.split_voices('train'))} voices, "
            f"{len(corpus.split_sentence_ids('train'))} sentences)"
        ),
        trained_parts="all" if args.train == "all" else "decoder (encoder and quantizer frozen)",
        batch=f"{args.batch_size} random crops of {args.crop_seconds} s",
    )
    codec.save_to_preset(args.output, metadata={"training": training})
    print(f"Saved {args.output} after {training['training_wall_time_minutes']} min of training.")


if __name__ == "__main__":
    try:
        main()
    except ValueError as error:  # bad input: the message says what is accepted
        raise SystemExit(f"train_codec.py: error: {error}") from None
