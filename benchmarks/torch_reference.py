"""A plain PyTorch InfoMax-VAE training step (the paper's Fashion-MNIST setting), for side-by-side timing.

Our own reimplementation of what the official InfoMax-VAE code does per batch (not a copy of it):

* encoder: 4x4 stride-2 pad-1 convs 1->28->28->56->118 with ReLU (28->14->7->3->1), then a 1x1 conv to
  2*z (mean, log-variance); z = 10;
* decoder: 1x1 conv z->118, ReLU, transposed convs 118->118 (4,2,1), 118->56 (4,2,1), 56->28 (4,1,0),
  28->28 (4,2,1), 28->1 (4,2,1) with ReLU between, sigmoid output (1->2->4->7->14->28);
* critic t(x, z): MLP on concat(flatten(x), z), 1000-400-100-1, ReLU;
* loss = BCE(sum)/B + KL/B + alpha * -(mean t(x,z) - mean exp(t(x,z_perm) - 1)), alpha = 20, z_perm a
  random permutation of the batch's codes;
* a VAE Adam step (lr 1e-3), then a critic Adam step (lr 1e-5) on the same batch with the codes detached.

Two ways of feeding it, both timed by ``benchmark``: ``"device"`` (the whole training set already on
the device as one float tensor, batches gathered by a random index per epoch: the reference's best case)
and ``"dataloader"`` (a ``torch.utils.data.DataLoader`` over a ``TensorDataset`` as shipped: shuffle=True,
batch 64, default workers, each batch copied to the device). cuDNN settings are left at their defaults.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks import flops as flops_lib

LATENT_DIM = 10
ALPHA = 20.0
VAE_LR = 1e-3
CRITIC_LR = 1e-5


class Encoder(nn.Module):
    def __init__(self, latent_dim: int = LATENT_DIM, channels=(28, 28, 56, 118), in_channels: int = 1):
        super().__init__()
        layers, c_in = [], in_channels
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 4, 2, 1), nn.ReLU()]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(c_in, 2 * latent_dim, 1)

    def forward(self, x):
        h = self.head(self.features(x)).flatten(1)
        mean, log_var = h.chunk(2, dim=1)
        return mean, log_var


class Decoder(nn.Module):
    def __init__(self, latent_dim: int = LATENT_DIM, out_channels: int = 1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(latent_dim, 118, 1), nn.ReLU(),
            nn.ConvTranspose2d(118, 118, 4, 2, 1), nn.ReLU(),   # 1 -> 2
            nn.ConvTranspose2d(118, 56, 4, 2, 1), nn.ReLU(),    # 2 -> 4
            nn.ConvTranspose2d(56, 28, 4, 1, 0), nn.ReLU(),     # 4 -> 7
            nn.ConvTranspose2d(28, 28, 4, 2, 1), nn.ReLU(),     # 7 -> 14
            nn.ConvTranspose2d(28, out_channels, 4, 2, 1),      # 14 -> 28
            nn.Sigmoid(),
        )

    def forward(self, z):
        return self.net(z[:, :, None, None])


class Critic(nn.Module):
    def __init__(self, x_dim: int = 784, latent_dim: int = LATENT_DIM, widths=(1000, 400, 100)):
        super().__init__()
        layers, d = [], x_dim + latent_dim
        for w in widths:
            layers += [nn.Linear(d, w), nn.ReLU()]
            d = w
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x, z):
        return self.net(torch.cat([x.flatten(1), z], dim=1)).squeeze(1)


def mi_kl_bound(critic: Critic, x, z, perm):
    """f-dual (NWJ) bound: mean t(x, z) - mean exp(t(x, z[perm]) - 1)."""
    return critic(x, z).mean() - torch.exp(critic(x, z[perm]) - 1.0).mean()


class InfoMaxVAEReference:
    """Models, optimizers and one training step (VAE step, then critic step on the same batch)."""

    def __init__(self, device, alpha: float = ALPHA, seed: int = 0):
        torch.manual_seed(seed)
        self.device = torch.device(device)
        self.alpha = alpha
        self.encoder = Encoder().to(self.device)
        self.decoder = Decoder().to(self.device)
        self.critic = Critic().to(self.device)
        self.opt_vae = torch.optim.Adam(list(self.encoder.parameters()) + list(self.decoder.parameters()), lr=VAE_LR)
        self.opt_critic = torch.optim.Adam(self.critic.parameters(), lr=CRITIC_LR)

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """One training step on ``x`` [B, 1, 28, 28] in [0, 1]; returns the VAE loss (a device tensor)."""
        b = x.shape[0]
        mean, log_var = self.encoder(x)
        z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        x_rec = self.decoder(z)
        recon = F.binary_cross_entropy(x_rec, x, reduction="sum") / b
        kl = -0.5 * torch.sum(1.0 + log_var - mean.pow(2) - log_var.exp()) / b
        perm = torch.randperm(b, device=x.device)
        mi = mi_kl_bound(self.critic, x, z, perm)
        loss = recon + kl - self.alpha * mi
        self.opt_vae.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_vae.step()

        critic_loss = -mi_kl_bound(self.critic, x, z.detach(), perm)
        self.opt_critic.zero_grad(set_to_none=True)  # drops the grads the VAE loss left on the critic
        critic_loss.backward()
        self.opt_critic.step()
        return loss.detach()


def forward_flops(batch: int) -> int:
    """Forward FLOPs of one training step at ``batch``: every Conv2d/ConvTranspose2d/Linear call of a
    step, counted by forward hooks (on a fresh CPU model at batch 2, scaled: every count is linear in B)."""
    probe_batch = 2
    ref = InfoMaxVAEReference("cpu")
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        x = inputs[0]
        if isinstance(module, nn.ConvTranspose2d):
            total += flops_lib.conv_transpose_flops(x.shape[0], x.shape[2:], module.kernel_size,
                                                    module.in_channels, module.out_channels)
        elif isinstance(module, nn.Conv2d):
            total += flops_lib.conv_flops(x.shape[0], output.shape[2:], module.kernel_size,
                                          module.in_channels, module.out_channels, module.groups)
        elif isinstance(module, nn.Linear):
            total += flops_lib.dense_flops(math.prod(x.shape[:-1]), module.in_features, module.out_features)

    for net in (ref.encoder, ref.decoder, ref.critic):
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                m.register_forward_hook(hook)
    ref.step(torch.rand(probe_batch, 1, 28, 28))
    return total * batch // probe_batch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _to_nchw_float(train_x: np.ndarray) -> torch.Tensor:
    """uint8 NHWC (or float) -> float32 NCHW in [0, 1] on the host."""
    x = torch.from_numpy(np.ascontiguousarray(train_x)).permute(0, 3, 1, 2).contiguous()
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def benchmark(train_x: np.ndarray, mode: str, batch: int = 64, device: str | None = None,
              warmup_steps: int = 20, min_time: float = 10.0, max_steps: int | None = None,
              block: int = 50, deadline: float | None = None) -> dict:
    """Time the reference step fed by ``mode`` ("device" or "dataloader"); returns the measurement.

    ``warmup_steps`` are run first and excluded. Steps then run in blocks of ``block`` with a
    ``torch.cuda.synchronize`` after each until ``min_time`` seconds (or ``max_steps`` steps, or the
    wall-clock ``deadline``, a ``time.time()`` value) have passed; the reported time spans the timed
    blocks, synchronised at both ends.
    """
    if mode not in ("device", "dataloader"):
        raise ValueError(f"mode must be 'device' or 'dataloader', got {mode!r}")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    ref = InfoMaxVAEReference(dev)
    x_host = _to_nchw_float(train_x)
    n = x_host.shape[0]
    steps_per_epoch = n // batch

    if mode == "device":
        x_dev = x_host.to(dev)
        generator = torch.Generator(device=dev)
        generator.manual_seed(0)

        def batches():
            while True:
                perm = torch.randperm(n, device=dev, generator=generator)
                for i in range(steps_per_epoch):
                    yield x_dev[perm[i * batch:(i + 1) * batch]]
    else:
        dataset = torch.utils.data.TensorDataset(x_host, torch.zeros(n, dtype=torch.long))
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True)

        def batches():
            while True:
                for x, _ in loader:
                    yield x.to(dev)

    stream = batches()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    for _ in range(warmup_steps):
        loss = ref.step(next(stream))
    _sync(dev)
    steps, start = 0, time.perf_counter()
    while True:
        for _ in range(block):
            loss = ref.step(next(stream))
        steps += block
        _sync(dev)
        elapsed = time.perf_counter() - start
        if elapsed >= min_time or (max_steps and steps >= max_steps) or (deadline and time.time() >= deadline):
            break
    final_loss = float(loss)
    return {
        "images_per_sec": steps * batch / elapsed,
        "step_ms": 1e3 * elapsed / steps,
        "batch": batch,
        "steps": steps,
        "wall_s": elapsed,
        "peak_memory_bytes": int(torch.cuda.max_memory_allocated(dev)) if dev.type == "cuda" else None,
        "device": device_name(dev),
        "loss": final_loss,
        "warmup_steps": warmup_steps,
        "model_flops_per_step": flops_lib.train_step_flops(forward_flops(batch)),
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads() if dev.type == "cpu" else None,
    }
