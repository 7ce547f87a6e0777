"""`mlgen gate`: rules (pure), metrics and predictions files, confidence bounds, accepted regressions, the command."""
