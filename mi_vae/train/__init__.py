"""The engine: train state, the jit-compiled sharded multi-player step, the loop, checkpoints."""

from mi_vae.train.checkpoint import Checkpointer, CheckpointMismatchError, NoUsableCheckpointError
from mi_vae.train.loop import MetricWriter, NonFiniteError, read_metrics, train, write_json_atomic, write_text_atomic
from mi_vae.train.step import make_mesh, make_train_chunk

__all__ = ["CheckpointMismatchError", "Checkpointer", "MetricWriter", "NoUsableCheckpointError", "NonFiniteError",
           "make_mesh", "make_train_chunk", "read_metrics", "train", "write_json_atomic", "write_text_atomic"]
