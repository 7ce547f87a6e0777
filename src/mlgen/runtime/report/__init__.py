"""`mlgen report`: the review report of a pipeline run, posted once per pull/merge request."""
