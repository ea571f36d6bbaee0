"""Text reconstructions and latent interpolations for sentence VAEs (MAE section 7.3, tables 1-2).

``reconstructions``: encode test sentences (posterior mean), greedy-decode, return (input, output)
pairs. ``interpolations``: decode greedily along the straight line between two posterior means
(the paper's table 2 style). ``reconstruction_rates``: the paper's figure 3 metrics over many test
sentences, the fraction reconstructed exactly and the fraction of input words matched in place.
All need a ``TextDataset`` (its vocabulary) and a method with an autoregressive token decoder;
``text_report`` formats the first two as markdown lines.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mi_vae.data import to_float
from mi_vae.data.text import word_ids


def _greedy_decoder(model, params, batch_stats):
    """A jitted ``ids [N, L] -> greedy decodings [N, L]`` of the sentences' posterior means."""

    @jax.jit
    def decode(ids):
        mean, _ = model.encode(params, batch_stats, to_float(ids))
        return model.sample_x(params, batch_stats, mean, jax.random.PRNGKey(0), greedy=True)

    return decode


def reconstructions(model, params, batch_stats, dataset, n: int = 8) -> list[tuple[str, str]]:
    """(input sentence, greedy decoding of its posterior mean) for the first ``n`` test sentences."""
    inputs = np.asarray(dataset.test_x[:n])
    outputs = np.asarray(_greedy_decoder(model, params, batch_stats)(jnp.asarray(inputs)))
    return [(dataset.detokenize(a), dataset.detokenize(b)) for a, b in zip(inputs, outputs, strict=True)]


def match_rates(inputs, outputs) -> dict[str, float]:
    """``text_exact_reconstruction``: fraction of sentences whose output words equal the input's;
    ``text_word_match``: input words equal to the output word at the same position, over all input words."""
    exact, matched, total = 0, 0, 0
    for a, b in zip(inputs, outputs, strict=True):
        wa, wb = word_ids(a), word_ids(b)
        exact += wa == wb
        matched += sum(x == y for x, y in zip(wa, wb, strict=False))
        total += len(wa)
    return {"text_exact_reconstruction": exact / max(len(inputs), 1), "text_word_match": matched / max(total, 1)}


def reconstruction_rates(model, params, batch_stats, dataset, n: int = 1000, batch: int = 250,
                         split: str = "test") -> dict[str, float]:
    """``match_rates`` of greedy decodings of the posterior means of the first ``n`` sentences of ``split``
    ("test", or "train": the Mutual Autoencoder paper's tables reconstruct training sentences)."""
    inputs = np.asarray((dataset.test_x if split == "test" else dataset.train_x)[:n])
    decode = _greedy_decoder(model, params, batch_stats)
    outputs = []
    for start in range(0, len(inputs), batch):
        chunk = inputs[start:start + batch]
        if len(chunk) < batch:  # one compiled shape: pad the last chunk with its first row
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], batch - len(chunk), axis=0)])
        outputs.append(np.asarray(decode(jnp.asarray(chunk))))
    return match_rates(inputs, np.concatenate(outputs)[: len(inputs)])


def interpolations(model, params, batch_stats, dataset, i: int = 0, j: int = 1, steps: int = 7) -> list[str]:
    """Greedy decodings of z = (1 - t) mu_i + t mu_j, t = 0..1 in ``steps`` steps (test sentences i, j)."""
    x = jnp.asarray(to_float(dataset.test_x[np.array([i, j])]))
    mean, _ = model.encode(params, batch_stats, x)
    t = jnp.linspace(0.0, 1.0, steps)[:, None]
    z = (1.0 - t) * mean[0] + t * mean[1]
    ids = model.sample_x(params, batch_stats, z, jax.random.PRNGKey(0), greedy=True)
    return [dataset.detokenize(r) for r in np.asarray(ids)]


def text_report(model, params, batch_stats, dataset, n: int = 8, steps: int = 7) -> list[str]:
    """Markdown lines: a reconstruction table and one interpolation."""
    lines = ["| input | greedy reconstruction |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in reconstructions(model, params, batch_stats, dataset, n)]
    lines += ["", "Interpolation between test sentences 0 and 1:", ""]
    lines += [f"{k}. {s}" for k, s in enumerate(interpolations(model, params, batch_stats, dataset, 0, 1, steps))]
    return lines


__all__ = ["interpolations", "match_rates", "reconstruction_rates", "reconstructions", "text_report"]
