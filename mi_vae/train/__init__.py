"""The engine: train state, the jit-compiled sharded multi-player step, the loop, checkpoints."""

from mi_vae.train.checkpoint import Checkpointer, CheckpointMismatchError, NoUsableCheckpointError
from mi_vae.train.loop import NonFiniteError, train
from mi_vae.train.step import make_mesh, make_train_chunk

__all__ = ["CheckpointMismatchError", "Checkpointer", "NoUsableCheckpointError", "NonFiniteError", "make_mesh",
           "make_train_chunk", "train"]
