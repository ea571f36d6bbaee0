"""mi_vae: variational autoencoders whose latent codes carry information.

Importing the package is cheap: ``from mi_vae import losses`` needs only jax and numpy.
The Flax models, the engine and evaluation are imported from their own subpackages.
"""

__version__ = "0.1.0"
