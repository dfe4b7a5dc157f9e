"""One folder per model (`soundstorm/`); `task_presets.py` is shared by their tasks."""
