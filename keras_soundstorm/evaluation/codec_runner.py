"""The codec evaluation run: reconstructions at every bitrate, written to files."""

from keras_soundstorm.evaluation.codec_quality import (
    codec_markdown,
    evaluate_codec,
    plot_codec_rows,
)
from keras_soundstorm.evaluation.loading import load_for_evaluation
from keras_soundstorm.evaluation.report import record_evaluation, write_report


def run_codec_evaluation(codec_preset, output_dir, num_sentences=20, record=False):
    """Codec reconstructions at every bitrate: writes `codec.md`, `codec.png`, `codec.json`.

    `record=True` also stores the rows in the preset's `metadata.json`
    (key `evaluation`).
    """
    _, codec, corpus = load_for_evaluation(None, codec_preset)
    rows = evaluate_codec(codec, corpus, num_sentences=num_sentences)
    if record:
        command = f"keras-soundstorm evaluate --codec-only --num-sentences {num_sentences}"
        record_evaluation(codec_preset, rows, command)
    write_report(output_dir, "codec", rows, codec_markdown(rows), plot_codec_rows)
    return rows
