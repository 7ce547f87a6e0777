"""Spec -> plan: the target-neutral IR, the runtime command lines jobs run, overrides, the compiler front end, the trust check."""
