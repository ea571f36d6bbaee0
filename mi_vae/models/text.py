"""Sentence VAE networks (Mutual Autoencoder text experiments, the Mutual Autoencoder paper section 7.3).

Data: token ids ``[B, T]`` (stored int32, float32 after ``to_float``; cast back here), each sentence
``w_1 .. w_n <eos>`` followed by ``<pad>``; ids ``PAD_ID = 0``, ``BOS_ID = 1``, ``EOS_ID = 2``,
``UNK_ID = 3`` (the same as ``mi_vae.data.text``). Likelihood ``"tokens"``:

    log p(x|z) = sum_{t : x_t != <pad>} log softmax(logits_t)[x_t]      (``token_log_prob``)

* ``BiLSTMEncoder``: embedding, a forward and a backward LSTM over the non-pad tokens (the final
  hidden states of both directions), Gaussian head -> (mean, log_var) of q(z|x).
* ``LSTMDecoder``: autoregressive (a ``models.AutoregressiveDecoder``, called ``decoder(z, train, x=x)``).
  The LSTM's initial state is tanh(Dense(z)) and z is concatenated to the word embedding at every
  step (the paper's "z fed at every step"); input at step t is x_{t-1} (``<bos>`` at t = 0)
  (teacher forcing). ``initial_carry(z)`` and ``step(carry, token, z)`` expose one step for
  decoding; ``sample`` runs them in a ``lax.scan`` (``decode_tokens``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from mi_vae.data.text import BOS_ID, EOS_ID, PAD_ID
from mi_vae.models.layers import GaussianHead
from mi_vae.models.vae import DecoderFns

Dtype = Any

def _after_eos_to_pad(tokens: jax.Array) -> jax.Array:
    """Replace everything after the first ``<eos>`` by ``<pad>`` (decoded sequences)."""
    seen = jnp.cumsum((tokens == EOS_ID).astype(jnp.int32), axis=-1)
    after = (seen - (tokens == EOS_ID).astype(jnp.int32)) > 0
    return jnp.where(after, PAD_ID, tokens)


class BiLSTMEncoder(nn.Module):
    """q(z|x) for token sequences: embedding, bidirectional LSTM (final states), Gaussian head."""

    latent_dim: int
    vocab_size: int = 2004
    embed_dim: int = 128
    hidden: int = 256
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> tuple[jax.Array, jax.Array]:
        tokens = x.reshape(x.shape[0], -1).astype(jnp.int32)
        lengths = jnp.maximum(jnp.sum(tokens != PAD_ID, axis=-1), 1)
        emb = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype)(tokens)
        bi = nn.Bidirectional(nn.RNN(nn.LSTMCell(self.hidden, dtype=self.dtype)),
                              nn.RNN(nn.LSTMCell(self.hidden, dtype=self.dtype)), return_carry=True)
        ((_, h_fwd), (_, h_bwd)), _ = bi(emb, seq_lengths=lengths)
        return GaussianHead(self.latent_dim, dtype=self.dtype)(jnp.concatenate([h_fwd, h_bwd], axis=-1))


class LSTMDecoder(nn.Module):
    """p(x|z) over token sequences ``[B, T]``: LSTM with z at every step; returns logits ``[B, T, V]``."""

    out_shape: Sequence[int]
    vocab_size: int = 2004
    embed_dim: int = 128
    hidden: int = 256
    dtype: Dtype = jnp.float32

    #: ``VAEModel.decode(z)`` without x decodes greedily (``models.AutoregressiveDecoder``)
    default_greedy: ClassVar[bool] = True

    def setup(self):
        self.embed = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype)
        self.init_state = nn.Dense(2 * self.hidden, dtype=self.dtype)
        self.cell = nn.LSTMCell(self.hidden, dtype=self.dtype)
        self.readout = nn.Dense(self.vocab_size, dtype=self.dtype)

    def initial_carry(self, z: jax.Array):
        """LSTM carry (c, h) from z: tanh(Dense(z)) split in two."""
        c, h = jnp.split(jnp.tanh(self.init_state(z.astype(self.dtype))), 2, axis=-1)
        return c, h

    def step(self, carry, token: jax.Array, z: jax.Array):
        """One step: input [embed(token), z] -> (new carry, logits [B, V] float32 of the next token).

        ``<pad>`` and ``<bos>`` get logit -1e9: the decoder never emits them.
        """
        inp = jnp.concatenate([self.embed(token.astype(jnp.int32)), z.astype(self.dtype)], axis=-1)
        carry, h = self.cell(carry, inp)
        logits = self.readout(h).astype(jnp.float32)
        return carry, logits.at[:, jnp.array([PAD_ID, BOS_ID])].set(-1e9)  # never emitted

    @nn.nowrap
    def sample(self, fns: DecoderFns, z: jax.Array, rng: jax.Array, greedy: bool) -> jax.Array:
        """Token ids ``[B, T]`` (float32) drawn word by word from p(x|z) (``decode_tokens``)."""
        return decode_tokens(fns.initial_carry, fns.step, z, rng, int(self.out_shape[0]), greedy)

    def __call__(self, z: jax.Array, train: bool = True, x: jax.Array | None = None) -> jax.Array:
        if x is None:
            raise ValueError("LSTMDecoder needs x (teacher forcing); decode with greedy_decode/sample_tokens")
        tokens = x.reshape(x.shape[0], -1).astype(jnp.int32)
        inputs = jnp.concatenate([jnp.full((tokens.shape[0], 1), BOS_ID, jnp.int32), tokens[:, :-1]], axis=1)
        carry = self.initial_carry(z)
        logits = []
        for t in range(tokens.shape[1]):  # T is small (13): unrolled
            carry, out = self.step(carry, inputs[:, t], z)
            logits.append(out)
        return jnp.stack(logits, axis=1)


def decode_tokens(init_fn: Callable, step_fn: Callable, z: jax.Array, rng: jax.Array, length: int,
                  greedy: bool = True) -> jax.Array:
    """Greedy (argmax) or sampled decoding with ``lax.scan`` over ``length`` steps -> ids ``[B, T]`` float32.

    ``init_fn(z) -> carry``; ``step_fn(carry, token, z) -> (carry, logits)``. Positions after the
    first ``<eos>`` are set to ``<pad>``.
    """
    carry = init_fn(z)
    first = jnp.full((z.shape[0],), BOS_ID, jnp.int32)

    def body(state, key):
        carry, token = state
        carry, logits = step_fn(carry, token, z)
        nxt = jnp.argmax(logits, axis=-1) if greedy else jax.random.categorical(key, logits, axis=-1)
        nxt = nxt.astype(jnp.int32)
        return (carry, nxt), nxt

    _, tokens = jax.lax.scan(body, (carry, first), jax.random.split(rng, length))
    return _after_eos_to_pad(tokens.T).astype(jnp.float32)


__all__ = ["BiLSTMEncoder", "LSTMDecoder", "decode_tokens"]
