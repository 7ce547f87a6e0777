"""From a checked pipeline to the target-neutral plan, and the checks that need the plan."""
