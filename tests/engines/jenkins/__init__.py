"""Jenkins declarative-pipeline harness: harness.groovy, its Python runner, and their tests."""
