"""The mlgen runtime: the ML work generated jobs do (data checks, gates, registry, canary).

Heavy libraries (pandas, pandera, mlflow) are imported inside the commands that need them,
so `mlgen compile` and `mlgen check` never pay for them.
"""
