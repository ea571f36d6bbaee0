"""Mutual Autoencoder on sentences (mutual_autoencoder.txt section 7.3, tables 1-2, figure 3).

The paper's text setting, on the offline stand-in: sentences of at most 12 words from Debian's
``fortunes`` package (``dataset=fortunes``, ``mi_vae/data/text.py``; the paper uses its own
corpus), a 2000-word vocabulary, a bidirectional LSTM encoder to a Gaussian q(z|x), an LSTM decoder
with z concatenated to the word embedding at every step (``mi_vae/models/text.py``), p(z) = N(0, I).
The model MI target M is enforced with C |I_BA - M|; I_BA's gradient through the discrete sampled
sentences x ~ p(x|z) is REINFORCE with a leave-one-out baseline (``reinforce_samples`` draws per z);
r_omega(z|x) is another bidirectional LSTM encoder. M = 0 is the plain VAE (posterior collapse:
the decoder ignores z). Reconstructions / interpolations: ``mi_vae.evaluation.text``.
Arguments: M, C, latent_dim, steps, hidden (LSTM units, 256), embed (word embedding size, 128), smoke.

python -m mi_vae.main --config=configs/mae_text.py:M=10 --workdir=runs/mae_text_m10
"""

import ml_collections

from mi_vae.config import base_config, parse_arg, smoke
from mi_vae.data.text import VOCAB_SIZE


def get_config(arg=None):
    a = parse_arg(arg, smoke=False, M=10.0, C=1.0, latent_dim=32, steps=20000, hidden=256, embed=128)
    c = base_config()
    c.method = "mae"
    c.dataset = "fortunes"
    c.latent_dim = a.latent_dim
    c.M = a.M
    c.C = a.C
    net = {"vocab_size": VOCAB_SIZE, "embed_dim": a.embed, "hidden": a.hidden}
    c.encoder = ml_collections.ConfigDict({"name": "bilstm", **net})
    c.decoder = ml_collections.ConfigDict({"name": "lstm", **net})
    c.r = ml_collections.ConfigDict({"name": "bilstm", **net})
    c.r_learning_rate = 1e-3
    c.learning_rate = 1e-3
    c.importance_weighted_encoder = 0
    c.mi_batch_size = 0
    c.reinforce_samples = 4
    c.batch_size = 64
    c.num_train_steps = a.steps
    c.log_every_steps = 100
    c.eval.iwae_k = 20
    c.eval.mi_critic_steps = 0  # the critic is an MLP on flattened x: not meaningful on token ids
    if a.smoke:
        smoke(c)
        small = {"vocab_size": VOCAB_SIZE, "embed_dim": 16, "hidden": 32}
        c.latent_dim = 4
        c.encoder = ml_collections.ConfigDict({"name": "bilstm", **small})
        c.decoder = ml_collections.ConfigDict({"name": "lstm", **small})
        c.r = ml_collections.ConfigDict({"name": "bilstm", **small})
        c.mi_batch_size = 16
        c.learning_rate = 3e-3
        c.eval.mi_critic_steps = 0
    return c
