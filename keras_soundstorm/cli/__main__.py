"""`python -m keras_soundstorm.cli`: what `--backend` re-executes."""

from keras_soundstorm.cli.main import main

main()
