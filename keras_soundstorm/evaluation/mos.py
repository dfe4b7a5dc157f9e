"""A MOS estimate: DNSMOS P.835 (signal, background, overall) from the `speechmos` wheel.

DNSMOS (Reddy et al., ICASSP 2022) predicts the mean opinion scores (1-5) a
listening test would give a clip under ITU-T P.835: SIG (speech signal
quality), BAK (background noise intrusiveness) and OVRL (overall). The ONNX
models ship inside the `speechmos` wheel (MIT), so nothing is downloaded; it
runs on onnxruntime.

DNSMOS scores 9 s windows (hop 1 s) and averages them; a shorter clip is
repeated end to end until it lasts 9 s, as DNSMOS's own scoring script does.

Example:

```python
scores = dnsmos(waveform, sample_rate=16000)   # {"sig": 3.4, "bak": 3.9, "ovrl": 3.0, "p808": 3.5}
```
"""

import threading

import numpy as np

from keras_soundstorm import audio
from keras_soundstorm.evaluation._checks import check_sample_rate, check_waveform, require

DNSMOS_SAMPLE_RATE = 16000
DNSMOS_KEYS = ("sig", "bak", "ovrl", "p808")
_LOCK = threading.Lock()


def dnsmos(waveform, sample_rate):
    """DNSMOS of one utterance: dict of floats `sig`, `bak`, `ovrl` (P.835) and `p808`.

    Args:
        waveform: float `[N]`, mono, not silent.
        sample_rate: Hz (resampled to 16 kHz as needed).
    """
    waveform = check_waveform(waveform)
    sample_rate = check_sample_rate(sample_rate)
    waveform = audio.resample(waveform, sample_rate, DNSMOS_SAMPLE_RATE)
    waveform = np.clip(waveform, -1.0, 1.0).astype("float32")
    speechmos = require("speechmos.dnsmos", "The DNSMOS quality estimate")
    with _LOCK:  # speechmos keeps its ONNX sessions in a module global
        scores = speechmos.run(waveform, sr=DNSMOS_SAMPLE_RATE)
    return {
        "sig": float(scores["sig_mos"]),
        "bak": float(scores["bak_mos"]),
        "ovrl": float(scores["ovrl_mos"]),
        "p808": float(scores["p808_mos"]),
    }


def dnsmos_batch(waveforms, sample_rate, progress=False):
    """`dnsmos` of each waveform in a list: a list of dicts."""
    from tqdm.auto import tqdm

    if isinstance(waveforms, np.ndarray) and waveforms.ndim == 1:
        raise ValueError("`waveforms` must be a list of 1-D waveforms; got one waveform.")
    return [
        dnsmos(w, sample_rate) for w in tqdm(list(waveforms), desc="DNSMOS", disable=not progress)
    ]
