"""Model builders: Hugging Face backbones and tiny from-config models for tests and offline use."""
