"""The mlgen runtime: the commands generated CI jobs call to do the ML work.

`mlgen gate`, `mlgen data check`, `mlgen registry ...` and `mlgen canary ...` live here. Heavy
libraries (pandas, pandera, numpy, scipy, mlflow) are imported only inside the command that
needs them, so `mlgen compile` and `mlgen check` never pay for them. `cli.main` is the entry point.
"""

from __future__ import annotations
