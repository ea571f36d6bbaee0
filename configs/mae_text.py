"""Mutual Autoencoder on sentences (Mutual Autoencoder, section 7.3, tables 1-2, figure 3).

The paper's text setting, on the offline stand-in: sentences of at most 12 words from Debian's
``fortunes`` package (``dataset=fortunes``, ``mi_vae/data/text.py``; the paper uses its own
corpus), a 2000-word vocabulary, a bidirectional LSTM encoder to a Gaussian q(z|x), an LSTM decoder
with z concatenated to the word embedding at every step (``mi_vae/models/text.py``), p(z) = N(0, I).
The model MI target M is enforced with C |I_BA - M|; I_BA's gradient through the discrete sampled
sentences x ~ p(x|z) is REINFORCE with a leave-one-out baseline (``reinforce_samples`` draws per z);
r_omega(z|x) is another bidirectional LSTM encoder. M = 0 is the plain VAE (posterior collapse:
the decoder ignores z). Reconstructions / interpolations: ``mi_vae.evaluation.text``.
Arguments: M, C, latent_dim, steps, hidden (LSTM units, 256), embed (word embedding size, 128),
flexible (k importance samples of the flexible encoder, Appendix C; 0: the Gaussian encoder's ELBO),
dataset (fortunes: at most 12 words; fortunes8: at most 8), split (the sentences the reconstruction rates are
measured on: test, or train as the paper's tables), smoke.

The paper's setting, which it calls critical for discrete data (the flexible encoder with k = 5, sentences of at
most 8 words, reconstructions of training sentences):

python -m mi_vae.main --config=configs/mae_text.py:M=10,flexible=5,dataset=fortunes8,split=train \
    --workdir=runs/mae_text_paper_m10
python -m mi_vae.main --config=configs/mae_text.py:M=10 --workdir=runs/mae_text_m10     # the Gaussian encoder
"""

from mi_vae.config import base_config, method_section, net, optim_section, parse_arg, smoke
from mi_vae.data.text import VOCAB_SIZE


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, M=10.0, C=1.0, latent_dim=32, steps=20000, hidden=256, embed=128, flexible=0,
                    dataset="fortunes", split="test")
    config = base_config()
    config.method = method_section("mae", M=arg.M, C=arg.C, importance_weighted_encoder=arg.flexible,
                                   mi_batch_size=0, reinforce_samples=4)
    config.dataset = arg.dataset
    config.evals.text.split = arg.split
    config.model.latent_dim = arg.latent_dim
    sizes = {"vocab_size": VOCAB_SIZE, "embed_dim": arg.embed, "hidden": arg.hidden}
    config.model.encoder = net("bilstm", **sizes)
    config.model.decoder = net("lstm", **sizes)
    config.model.r = net("bilstm", **sizes)
    config.optim = optim_section(vae={"learning_rate": 1e-3}, r={"learning_rate": 1e-3})
    config.batch_size = 64
    config.num_train_steps = arg.steps
    config.log_every_steps = 100
    config.evals.iwae.k = 20
    config.evals.mi.critic_steps = 0  # the critic is an MLP on flattened x: not meaningful on token ids
    if arg.smoke:
        smoke(config)
        small = {"vocab_size": VOCAB_SIZE, "embed_dim": 16, "hidden": 32}
        config.model.latent_dim = 4
        config.model.encoder = net("bilstm", **small)
        config.model.decoder = net("lstm", **small)
        config.model.r = net("bilstm", **small)
        config.method.mi_batch_size = 16
        config.optim.vae.learning_rate = 3e-3
        config.evals.mi.critic_steps = 0
    return config
