"""Command-line tools run once by hand, outside training and evaluation (``python -m mi_vae.tools.<name>``).

    convert_inception_weights   pytorch-fid's InceptionV3 checkpoint (.pth) -> the npz ``mi_vae.models.inception``
                                loads (needs torch, only for reading the .pth)
"""
