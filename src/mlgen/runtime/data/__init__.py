"""`mlgen data check`: the contract format, typed reading, pandera checks, drift, reports, the command."""
