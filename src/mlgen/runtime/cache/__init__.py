"""`mlgen cache`: the training-cache key rule (file globs) and the command that checks a restored cache."""
