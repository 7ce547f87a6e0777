from __future__ import annotations

import sys

from mlgen import errhandler
from mlgen.runtime.cli import main

sys.exit(errhandler.run(lambda: main(sys.argv[1:])))
