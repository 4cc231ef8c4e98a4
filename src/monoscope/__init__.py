"""monoscope: sparse-autoencoder interpretability and hidden-objective auditing for HF transformers."""
__version__ = "0.1.0"
