"""`python -m keras_nachos_cli`: the `keras-nachos` command (local workers
of `keras-nachos search --workers N` are started this way)."""

import sys

from keras_nachos_cli import main

sys.exit(main())
