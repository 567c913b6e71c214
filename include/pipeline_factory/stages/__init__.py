"""Stage types: a registry of names, their parameter models and their code."""
