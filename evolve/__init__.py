"""persona-evolve: evolve a PyTorch training program with persona prompts as mutation operators."""

__version__ = "0.1.0"
