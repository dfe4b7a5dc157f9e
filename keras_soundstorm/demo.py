"""The offline demo: a new sentence spoken in the voice of a 3 s eSpeak prompt.

`run_demo` renders a prompt in the chosen voice, generates the sentence with
SoundStorm from its phonemes (continuing the prompt's codec tokens), decodes
it with the codec, and writes `prompt.wav`, `generated.wav`, `reference.wav`
(eSpeak's own rendering of the sentence in that voice) and `spectrograms.png`.
"""

import os
import time

import numpy as np

from keras_soundstorm import audio
from keras_soundstorm.data.espeak_corpus import EspeakCorpus
from keras_soundstorm.data.voices import Voice
from keras_soundstorm.models.soundstorm import prompting

DEFAULT_MODEL = "soundstorm_espeak_small"  # shipped presets, loaded by name
DEFAULT_CODEC = "soundstream_espeak_16khz"
DEFAULT_TEXT = "The old lighthouse keeper watched the storm roll in from the sea."
DEFAULT_VOICE = "en-us+f2/p50/r150"
MAX_SECONDS = 20.0


def spectrogram_png(path, waveforms, sample_rate, title=None):
    """Log-mel spectrograms of named waveforms stacked in one PNG.

    Args:
        path: the PNG to write.
        waveforms: dict name -> float `[N]`.
        sample_rate: Hz.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_soundstorm.utils.mel import mel_filterbank

    fft_size, hop = 1024, 160
    filterbank = mel_filterbank(80, fft_size, sample_rate)
    window = np.hanning(fft_size)
    figure, axes = plt.subplots(len(waveforms), 1, figsize=(10, 2.3 * len(waveforms)))
    axes = np.atleast_1d(axes)
    for axis, (name, waveform) in zip(axes, waveforms.items()):
        padded = np.pad(np.asarray(waveform, "float64"), (fft_size // 2, fft_size // 2))
        count = max(1 + (len(padded) - fft_size) // hop, 1)
        frames = np.stack([padded[i * hop : i * hop + fft_size] for i in range(count)])
        power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
        mel_db = 10 * np.log10(power @ filterbank + 1e-10)
        axis.imshow(
            mel_db.T,
            origin="lower",
            aspect="auto",
            vmin=mel_db.max() - 80,
            extent=[0, len(waveform) / sample_rate, 0, mel_db.shape[1]],
            cmap="magma",
        )
        axis.set(title=name, ylabel="mel band")
    axes[-1].set_xlabel("seconds")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def run_demo(
    output_dir,
    text=DEFAULT_TEXT,
    voice=DEFAULT_VOICE,
    model_preset=DEFAULT_MODEL,
    codec_preset=DEFAULT_CODEC,
    seed=0,
    prompt_seconds=prompting.PROMPT_SECONDS,
    print_fn=print,
):
    """Runs the demo, writes its files to `output_dir`, returns a summary dict.

    Raises ValueError for a voice eSpeak's corpus does not have (the message
    lists them), text eSpeak cannot speak, or text longer than `MAX_SECONDS`.
    """
    start = time.perf_counter()
    voice = Voice.parse(voice).name
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"`text` must be a non-empty English sentence; got {text!r}.")

    from keras_soundstorm.codecs import SoundStream
    from keras_soundstorm.evaluation import speaker_similarity
    from keras_soundstorm.models.soundstorm import SoundStorm

    model = SoundStorm.from_preset(model_preset)
    codec = SoundStream.from_preset(codec_preset)
    corpus = EspeakCorpus(
        sample_rate=codec.sample_rate,
        frame_rate=int(codec.frame_rate),
        frame_multiple=model.backbone.conditioning_rate_ratio,
    )
    prompting.check_compatible(model, codec, corpus)
    reference = corpus.synthesize(text, voice)
    seconds = len(reference.waveform) / corpus.sample_rate
    if seconds > MAX_SECONDS:
        raise ValueError(
            f"`text` takes {seconds:.1f} s to say; the demo takes up to {MAX_SECONDS:.0f} s "
            "(split it into sentences)."
        )
    prompt = prompting.voice_prompt(corpus, voice, seconds=prompt_seconds)
    # The first call compiles the decode; time the generation on its own.
    prompting.speak(model, codec, reference.phoneme_ids, prompt=prompt, seed=seed)
    generated = prompting.speak(model, codec, reference.phoneme_ids, prompt=prompt, seed=seed)

    os.makedirs(output_dir, exist_ok=True)
    files = {
        "prompt": prompt.waveform,
        "generated": generated.waveform,
        "reference": reference.waveform,
    }
    for name, waveform in files.items():
        peak = float(np.max(np.abs(waveform)))
        if peak > 1.0:  # a decoder may overshoot full scale: scale down, never clip
            print_fn(f"{name}.wav: peak {peak:.2f} > 1, scaled down by {1 / peak:.2f}.")
            waveform = waveform / peak
        audio.save(os.path.join(output_dir, f"{name}.wav"), waveform, corpus.sample_rate)
    png = os.path.join(output_dir, "spectrograms.png")
    spectrogram_png(
        png,
        {
            f"prompt ({prompt_seconds:g} s of eSpeak, {voice})": prompt.waveform,
            "generated by SoundStorm (codec tokens decoded)": generated.waveform,
            "reference (eSpeak, same sentence and voice)": reference.waveform,
        },
        corpus.sample_rate,
        title=text,
    )
    summary = {
        "text": text,
        "voice": voice,
        "similarity_generated_to_prompt": speaker_similarity(
            generated.waveform, prompt.waveform, corpus.sample_rate
        ),
        "similarity_reference_to_prompt": speaker_similarity(
            reference.waveform, prompt.waveform, corpus.sample_rate
        ),
        "real_time_factor": generated.real_time_factor,
        "generated_seconds": len(generated.waveform) / corpus.sample_rate,
        "output_dir": output_dir,
        "total_seconds": time.perf_counter() - start,
    }
    print_fn(f"Text:  {text!r}\nVoice: {voice} (prompt: {prompt_seconds:g} s of other sentences)")
    print_fn(
        "Speaker similarity to the prompt: generated "
        f"{summary['similarity_generated_to_prompt']:.3f} (eSpeak's own rendering: "
        f"{summary['similarity_reference_to_prompt']:.3f})"
    )
    print_fn(
        f"Real-time factor: {summary['real_time_factor']:.3f} "
        f"({summary['generated_seconds']:.1f} s of speech in {generated.seconds:.2f} s, "
        f"{model.backbone.num_levels} levels, generate + decode)"
    )
    print_fn(f"Wrote prompt.wav, generated.wav, reference.wav, spectrograms.png to {output_dir}")
    return summary
