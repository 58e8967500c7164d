"""``python -m keras_archs.cli``: the ``keras-archs`` console script."""

import sys

from keras_archs.cli import main

sys.exit(main())
