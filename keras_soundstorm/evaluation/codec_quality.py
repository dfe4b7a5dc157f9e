"""How well a codec keeps the voice: speaker cosine and MCD at every bitrate."""

import numpy as np

from keras_soundstorm.evaluation.mcd import mel_cepstral_distortion
from keras_soundstorm.evaluation.speaker import cosine_similarity, speaker_embedding

EVALUATION_SPLITS = {
    "training voices": "heldout_sentences",
    "held-out voices": "heldout_both",
}


def evaluate_codec(codec, corpus, num_sentences=None, progress=True):
    """Reconstructs held-out sentences at every bitrate and scores them.

    For each group of `EVALUATION_SPLITS` (held-out sentences by training
    voices, and by held-out voices; one voice per sentence), every utterance
    is encoded once and decoded with its first k levels, k = 1..Q.

    Args:
        codec: a `SoundStream` at the corpus's sample and frame rates.
        corpus: an `EspeakCorpus`.
        num_sentences: evaluate only the first n sentences of each split.

    Returns: list of row dicts, one per (group, k): `group`, `num_levels`,
    `bitrate_bps`, `speaker_cosine` (mean cosine of resemblyzer embeddings,
    original vs reconstruction), `speaker_cosine_min`, `mcd_db` (mean DTW
    mel-cepstral distortion, dB), `num_utterances`.
    """
    from tqdm.auto import tqdm

    rows = []
    bits_per_level = np.log2(codec.codebook_size) * codec.frame_rate
    for group, split in EVALUATION_SPLITS.items():
        pairs = corpus.split(split, voices_per_sentence=1)[:num_sentences]
        if not pairs:
            raise ValueError(f"`num_sentences` must be >= 1; got {num_sentences!r}.")
        scores = {k: ([], []) for k in range(1, codec.num_levels + 1)}
        for utterance in tqdm(
            corpus.utterances(pairs, progress=False),
            desc=f"codec on {group}",
            unit="utt",
            disable=not progress,
        ):
            original = utterance.waveform
            reference = speaker_embedding(original, corpus.sample_rate)
            codes = codec.encode(original[None])
            for k, (cosines, distortions) in scores.items():
                rebuilt = codec.decode(codes, num_levels=k)[0][: len(original)]
                cosines.append(
                    cosine_similarity(reference, speaker_embedding(rebuilt, corpus.sample_rate))
                )
                distortions.append(mel_cepstral_distortion(original, rebuilt, corpus.sample_rate))
        for k, (cosines, distortions) in scores.items():
            rows.append(
                {
                    "group": group,
                    "num_levels": k,
                    "bitrate_bps": int(round(k * bits_per_level)),
                    "speaker_cosine": float(np.mean(cosines)),
                    "speaker_cosine_min": float(np.min(cosines)),
                    "mcd_db": float(np.mean(distortions)),
                    "num_utterances": len(cosines),
                }
            )
    return rows


def codec_markdown(rows):
    """The rows of `evaluate_codec` as a markdown table."""
    lines = [
        "| voices | levels | bitrate | speaker cosine (mean / min) | MCD (dB) | utterances |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['group']} | {row['num_levels']} | {row['bitrate_bps'] / 1000:.1f} kbps | "
            f"{row['speaker_cosine']:.3f} / {row['speaker_cosine_min']:.3f} | "
            f"{row['mcd_db']:.2f} | {row['num_utterances']} |"
        )
    return "\n".join(lines) + "\n"


def plot_codec_rows(rows, path):
    """Speaker cosine and MCD against bitrate, one line per voice group: a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for group in dict.fromkeys(row["group"] for row in rows):
        kept = [row for row in rows if row["group"] == group]
        kbps = [row["bitrate_bps"] / 1000 for row in kept]
        left.plot(kbps, [row["speaker_cosine"] for row in kept], "o-", label=group)
        right.plot(kbps, [row["mcd_db"] for row in kept], "o-", label=group)
    left.axhline(0.9, color="gray", linestyle="--", linewidth=1, label="target 0.90")
    left.set(xlabel="bitrate (kbps)", ylabel="speaker cosine", title="Voice kept")
    right.set(xlabel="bitrate (kbps)", ylabel="MCD (dB)", title="Mel-cepstral distortion")
    left.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
