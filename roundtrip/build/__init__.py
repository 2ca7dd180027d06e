"""A spec built into a Keras model and run."""
