"""`mlgen canary step|promote|rollback`: health probes, Prometheus reading, the command."""
