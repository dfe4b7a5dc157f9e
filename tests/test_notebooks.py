"""Runs the Colab and Kaggle notebooks end to end on the CPU, so that they never rot.

papermill injects a tiny configuration after each notebook's `parameters`
cell and executes it in a fresh Jupyter kernel (a separate process) with the
backend this test runs under (`KERAS_BACKEND` of the CI job), so both
notebooks run on JAX, TensorFlow and PyTorch. The checks are on what a user
gets: a preset that loads, a TF Serving SavedModel, the audio file, the
TensorBoard logs, and the share step skipped for lack of credentials.
"""

import json
import os

import keras
import nbformat
import papermill
import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")
NOTEBOOKS = ["colab_tpu.ipynb", "kaggle_tpu.ipynb"]
BACKEND = keras.backend.backend()
CREDENTIALS = ("KAGGLE_USERNAME", "KAGGLE_KEY", "HF_TOKEN")


def read(name):
    return nbformat.read(os.path.join(EXAMPLES, name), as_version=4)


def test_notebooks_start_with_a_parameters_cell_and_share_their_common_cells():
    colab, kaggle = read(NOTEBOOKS[0]), read(NOTEBOOKS[1])
    for notebook in (colab, kaggle):
        code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert "parameters" in code_cells[0].metadata.get("tags", [])
        assert all(not cell.outputs for cell in code_cells), "commit notebooks without outputs"
    # Only the title, the parameters and the platform section (Drive vs
    # /kaggle/working, Colab vs Kaggle secrets) differ.
    different = [
        i for i, (a, b) in enumerate(zip(colab.cells, kaggle.cells)) if a.source != b.source
    ]
    assert len(colab.cells) == len(kaggle.cells)
    assert different == [0, 1, 4, 5]
    assert "google.colab" in colab.cells[5].source and "/content" in colab.cells[1].source
    assert (
        "kaggle_secrets" in kaggle.cells[5].source and "/kaggle/working" in kaggle.cells[1].source
    )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_end_to_end_on_cpu(name, tmp_path, monkeypatch):
    for variable in CREDENTIALS:
        monkeypatch.delenv(variable, raising=False)
    output_dir = tmp_path / "outputs"
    executed = tmp_path / name
    papermill.execute_notebook(
        os.path.join(EXAMPLES, name),
        str(executed),
        parameters=dict(
            CONFIG="tiny",
            BACKEND=BACKEND,
            STEPS=4,
            WARMUP_STEPS=1,
            BATCH_SIZE=4,
            MAX_FRAMES=16,
            OUTPUT_DIR=str(output_dir),
            # Set, but without credentials: the share step must skip it.
            UPLOAD_URI="kaggle://nobody/soundstorm/keras/tiny",
        ),
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
        execution_timeout=300,
    )  # raises PapermillExecutionError, with the cell and traceback, if a cell fails

    with open(output_dir / "summary.json") as f:
        summary = json.load(f)
    assert summary["backend"] == BACKEND and summary["accelerator"] == "CPU"
    assert summary["config"] == "tiny" and summary["steps"] == 4
    assert summary["share"] == "skipped: no KAGGLE_USERNAME / KAGGLE_KEY secret"
    assert summary["saved_model"] == str(output_dir / "serving" / "soundstorm" / "1")
    assert os.path.isfile(os.path.join(summary["saved_model"], "saved_model.pb"))
    preset = summary["preset"]
    assert {"config.json", "model.weights.h5", "task.json"} <= set(os.listdir(preset))
    with open(os.path.join(preset, "metadata.json")) as f:
        assert json.load(f)["training"]["steps"] == 4
    assert os.path.getsize(summary["audio"]) > 44  # a WAV header and samples
    assert os.listdir(output_dir / "logs" / "train"), "no TensorBoard events"
    # The audio player was displayed.
    outputs = [o for cell in nbformat.read(str(executed), 4).cells for o in cell.get("outputs", [])]
    assert any("<audio" in o.get("data", {}).get("text/html", "") for o in outputs)
