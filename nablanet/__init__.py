"""nablanet: feedforward neural networks exactly as the mathematics of backpropagation says."""

__version__ = "0.1.0"
