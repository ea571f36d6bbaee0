"""Sentence VAE (mi_vae/models/text.py, mi_vae/data/text.py, configs/mae_text.py)."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mi_vae.data import DatasetError, load_dataset
from mi_vae.data.text import BOS_ID, EOS_ID, FORTUNES_DIR, MAX_WORDS, PAD_ID
from mi_vae.errors import ConfigError
from mi_vae.losses import token_log_prob
from mi_vae.models.text import BiLSTMEncoder, LSTMDecoder

V, T, E, H, D = 11, 6, 5, 7, 3
needs_fortunes = pytest.mark.skipif(not os.path.isdir(FORTUNES_DIR), reason="apt-get install -y fortunes")


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def test_teacher_forced_log_likelihood_by_hand():
    dec = LSTMDecoder(out_shape=(T,), vocab_size=V, embed_dim=E, hidden=H)
    z = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (2, D)))
    x = np.array([[4, 5, 6, EOS_ID, PAD_ID, PAD_ID], [7, 8, 9, 10, 4, EOS_ID]], np.float32)
    params = dec.init(jax.random.PRNGKey(1), jnp.asarray(z), x=jnp.asarray(x))["params"]
    ll = np.asarray(token_log_prob(dec.apply({"params": params}, jnp.asarray(z), x=jnp.asarray(x)), x))

    p = jax.tree_util.tree_map(np.asarray, params)
    cell = p["cell"]

    def dense(name, v):
        return v @ cell[name]["kernel"] + (cell[name]["bias"] if "bias" in cell[name] else 0.0)

    expected = np.zeros(2)
    for b in range(2):
        init = np.tanh(z[b] @ p["init_state"]["kernel"] + p["init_state"]["bias"])
        c, h = init[:H], init[H:]
        prev = BOS_ID
        for t in range(T):
            inp = np.concatenate([p["embed"]["embedding"][prev], z[b]])
            i = _sigmoid(dense("ii", inp) + dense("hi", h))
            f = _sigmoid(dense("if", inp) + dense("hf", h))
            g = np.tanh(dense("ig", inp) + dense("hg", h))
            o = _sigmoid(dense("io", inp) + dense("ho", h))
            c = f * c + i * g
            h = o * np.tanh(c)
            logits = h @ p["readout"]["kernel"] + p["readout"]["bias"]
            logits[[PAD_ID, BOS_ID]] = -1e9
            logp = logits - np.log(np.sum(np.exp(logits - logits.max()))) - logits.max()
            tok = int(x[b, t])
            if tok != PAD_ID:
                expected[b] += logp[tok]
            prev = tok
    np.testing.assert_allclose(ll, expected, rtol=1e-5, atol=1e-4)


def test_encoder_ignores_padding():
    enc = BiLSTMEncoder(latent_dim=D, vocab_size=V, embed_dim=E, hidden=H)
    x = jnp.array([[4, 5, EOS_ID, PAD_ID, PAD_ID, PAD_ID]], jnp.float32)
    params = enc.init(jax.random.PRNGKey(0), x)
    x2 = x.at[0, 4].set(9.0)  # a non-pad id changes the length and the code
    m1, _ = enc.apply(params, x)
    m2, _ = enc.apply(params, jnp.array([[4, 5, EOS_ID, PAD_ID, PAD_ID]], jnp.float32))
    np.testing.assert_allclose(m1, m2, atol=1e-5)  # trailing padding does not change the code
    assert not np.allclose(m1, enc.apply(params, x2)[0])


@needs_fortunes
def test_fortunes_dataset():
    ds = load_dataset("fortunes", max_train_examples=500)
    assert ds.likelihood == "tokens" and ds.example_shape == (MAX_WORDS + 1,)
    assert ds.train_x.dtype == np.int32 and ds.num_train == 500 and ds.num_test > 100
    for split in (ds.train_x, ds.test_x):
        lengths = np.sum(split != PAD_ID, axis=1)
        assert lengths.min() >= 2 and lengths.max() <= MAX_WORDS + 1
        assert np.all(split[np.arange(len(split)), lengths - 1] == EOS_ID)  # <eos> ends every sentence
        assert np.all(split < len(ds.vocab)) and not np.any(split == BOS_ID)
    assert ds.vocab[:4] == ("<pad>", "<bos>", "<eos>", "<unk>")
    assert all(len(ds.detokenize(r).split()) <= MAX_WORDS for r in ds.test_x)
    again = load_dataset("fortunes", max_train_examples=500)
    np.testing.assert_array_equal(ds.test_x, again.test_x)  # deterministic split


def test_missing_fortunes_is_a_one_line_error(tmp_path):
    with pytest.raises(DatasetError, match="apt-get install -y fortunes"):
        load_dataset("fortunes", data_dir=str(tmp_path / "nope"))


@needs_fortunes
def test_smoke_config_trains(tmp_path):
    from configs.mae_text import get_config
    from mi_vae.evaluation.text import interpolations, reconstruction_rates, reconstructions
    from mi_vae.train import train

    config = get_config("smoke=True,M=2")
    config.run_eval = False
    config.num_train_steps = 60
    config.log_every_steps = 10
    method, state, dataset, _ = train(config, str(tmp_path))
    rows = [json.loads(line) for line in open(os.path.join(tmp_path, "metrics.jsonl"))]
    nll = [r["recon_nll"] for r in rows if r["split"] == "train" and "recon_nll" in r]
    assert len(nll) >= 5 and np.all(np.isfinite(nll)) and "mi_estimate" in rows[-1]
    assert np.mean(nll[-2:]) < nll[0] - 2.0
    params, bs = state["params"], state["batch_stats"]
    pairs = reconstructions(method.model, params, bs, dataset, n=4)
    assert len(pairs) == 4 and all(len(out.split()) <= MAX_WORDS + 1 for _, out in pairs)
    assert len(interpolations(method.model, params, bs, dataset, steps=3)) == 3
    rates = reconstruction_rates(method.model, params, bs, dataset, n=30, batch=16)  # a padded last chunk
    assert set(rates) == {"text_exact_reconstruction", "text_word_match"}
    assert all(0.0 <= v <= 1.0 for v in rates.values())


def test_match_rates_count_exact_sentences_and_words_in_place():
    from mi_vae.evaluation.text import match_rates

    # ids: 0 pad, 1 bos, 2 eos; words >= 4. Sentence 1 exact; 2 has one of three words right; 3 is longer.
    inputs = [[5, 6, 2, 0], [7, 8, 9, 2], [4, 2, 0, 0]]
    outputs = [[5, 6, 2, 9], [7, 4, 4, 2], [4, 4, 2, 0]]
    rates = match_rates(inputs, outputs)
    assert rates["text_exact_reconstruction"] == 1 / 3
    assert rates["text_word_match"] == (2 + 1 + 1) / (2 + 3 + 1)


@needs_fortunes
def test_the_papers_text_setting_short_sentences_flexible_encoder_training_sentences():
    """configs/mae_text.py:flexible=5,dataset=fortunes8,split=train: sentences of <= 8 words, the resampling
    encoder (k = 5), reconstruction rates measured on the training sentences (the flexible encoder's bound and
    its training are tested in test_mae.py)."""
    from configs import mae_text
    from mi_vae.evaluation.evaluators import EvalData, Note, text
    from mi_vae.methods import get_method
    from mi_vae.train.loop import data_spec

    config = mae_text.get_config("smoke=True,flexible=5,dataset=fortunes8,split=train")
    dataset = load_dataset(config.dataset, max_train_examples=64, max_test_examples=16)
    assert dataset.name == "fortunes8" and dataset.train_x.shape[1] == 9  # 8 words and <eos>
    method = get_method(config, data_spec(dataset))
    assert method.iw_samples == 5
    variables = method.init(jax.random.PRNGKey(0), jnp.asarray(dataset.train_x[:2]))
    state = {"params": variables["params"], "batch_stats": variables["batch_stats"], "step": 0}
    evaluator = text.Evaluator(method, EvalData(method, dataset), examples=40, **{"split": config.evals.text.split})
    out = dict(evaluator.run(state))
    assert 0.0 <= out["text_word_match"] <= 1.0
    notes = [v for _, v in evaluator.run(state) if isinstance(v, Note)]
    assert "the first 40 train sentences" in notes[0].text  # 40 of the 64 training sentences, not the 16 test ones
    with pytest.raises(ConfigError, match="split must be 'test' or 'train'"):
        text.Evaluator(method, EvalData(method, dataset), split="valid")
