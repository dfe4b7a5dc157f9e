"""One folder per model (`soundstorm/`, `text_to_semantic/`); `task_presets.py` is shared by their
tasks."""
