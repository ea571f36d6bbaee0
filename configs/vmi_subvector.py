"""VMI with a Gaussian latent, MI maximised on a sub-vector (VMI thesis, section 4.3.1).

A 32-dim Gaussian latent, prior N(0, I); the MI regulariser (eq. 4.13-4.14) acts on the first two
coordinates z_hat = (z_1, z_2): an auxiliary Gaussian MLP Q(z_hat | x_hat) on the decoder's output.
The thesis trains on MNIST and compares lambda = 0 (plain ELBO) with lambda in {0.001, 0.005,
0.01} (Figure 4.4; the thesis does not say how its reconstruction term is reduced: here it is the
Bernoulli log-likelihood summed over the pixels of an image, so these lambdas weigh less than they would
against a per-pixel mean). Here the offline default is
Fashion-MNIST. Arguments: lambda_ (MI weight), mi_dims, dataset, net=conv28|mlp, steps, smoke.

python -m mi_vae.main --config=configs/vmi_subvector.py:lambda_=0.01 --workdir=runs/vmi_sub
"""

from mi_vae.config import base_config, method_section, net, optim_section, parse_arg, smoke


def get_config(arg=None):
    arg = parse_arg(arg, smoke=False, lambda_=0.01, mi_dims=2, dataset="fashion_mnist", net="conv28",
                    steps=20000, epochs=0)
    config = base_config()
    config.method = method_section("vmi", mi_code="subvector", lambda_=arg.lambda_, mi_dims=arg.mi_dims)
    config.dataset = arg.dataset
    config.model.latent_dim = 32
    config.model.q = {"widths": (256, 256)}
    if arg.net == "conv28":
        config.model.encoder = net("conv28")
        config.model.decoder = net("conv28")
    config.optim = optim_section(vae={"learning_rate": 1e-3}, q={"learning_rate": 1e-3})
    config.batch_size = 64
    config.num_train_steps = arg.steps
    config.num_epochs = arg.epochs
    if arg.smoke:
        smoke(config)
        config.model.q.widths = (64,)
    return config
