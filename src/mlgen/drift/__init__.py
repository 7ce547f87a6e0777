"""`mlgen check`: the header of generated files, the fast up-to-date path, and the drift report. Stdlib only."""
