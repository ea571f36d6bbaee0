"""The documentation: the docstring examples run, every public loss and MI estimator documents itself, the site builds.

- The ``>>>`` examples of ``mi_vae.losses``, the MI estimators and ``from_arrays`` run as doctests.
- Every public function of ``mi_vae.losses`` (its ``__all__``) and of ``mi_vae.evaluation.mi`` has an equation,
  a References section (authors, title, year, and an arXiv id or "no arXiv id") and an example.
- The method module of the "Adding a method" guide builds through ``config.method`` and computes its losses.
- The site (mkdocs.yml: guides, design, the API reference from the docstrings) builds in strict mode, where any
  warning (a broken link or include, a docstring argument the signature lacks) fails the build.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REPO

from mi_vae import losses
from mi_vae.config import base_config, method_section, smoke
from mi_vae.evaluation import mi
from mi_vae.methods import DataSpec, get_method

DOCTEST_MODULES = ["mi_vae.losses.likelihoods", "mi_vae.losses.divergences", "mi_vae.losses.priors",
                   "mi_vae.losses.mi_bounds", "mi_vae.evaluation.mi", "mi_vae.data.files"]
#: the functions whose docstrings must carry an equation, their papers and an example
DOCUMENTED = ([(name, getattr(losses, name)) for name in sorted(losses.__all__)
               if inspect.isfunction(getattr(losses, name))]
              + [(f"mi.{name}", getattr(mi, name)) for name in sorted(mi.__all__)
                 if inspect.isfunction(getattr(mi, name))])


@pytest.mark.parametrize("module_name", DOCTEST_MODULES)
def test_docstring_examples_run(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, report=True, verbose=False)
    assert result.attempted > 0, f"{module_name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {module_name} failed (see above)"


def test_the_documented_functions_are_all_the_public_ones():
    # 32 functions of mi_vae.losses and 4 of the MI estimators; a new public function joins this list by itself
    assert len(DOCUMENTED) >= 36


@pytest.mark.parametrize("name, fn", DOCUMENTED, ids=[name for name, _ in DOCUMENTED])
def test_public_function_has_equation_references_and_example(name, fn):
    doc = inspect.getdoc(fn) or ""
    tests = doctest.DocTestFinder(recurse=False).find(fn, name, globs={})
    assert sum(len(t.examples) for t in tests) > 0, f"{name}: no >>> example"
    prose = doc.split("Args:")[0].split("References:")[0]
    assert re.search(r"[^=!<>]=[^=]|<=|>=|~", prose), f"{name}: no equation before Args"
    assert "References:" in doc, f"{name}: no References section"
    references = doc.split("References:")[1].split("Examples:")[0]
    entries = [e for e in re.split(r"\n\s*- ", "\n" + references) if e.strip()]
    assert entries, f"{name}: empty References section"
    for entry in (" ".join(e.split()) for e in entries):
        assert '"' in entry and re.search(r"\b(19|20)\d\d\b", entry), f"{name}: reference without title or year"
        assert re.search(r"arXiv:\d{4}\.\d{4,5}|no arXiv id", entry), f"{name}: reference without an arXiv id"


def test_the_method_of_the_adding_a_method_guide_computes_its_losses(tmp_path, monkeypatch):
    with open(os.path.join(REPO, "docs", "guides", "adding-a-method.md")) as f:
        code = re.search(r"```python\n(# mypkg/mmd_vae\.py.*?)```", f.read(), re.S).group(1)
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mmd_vae.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        config = smoke(base_config())
        config.method = method_section("mypkg.mmd_vae", lambda_=100.0)
        method = get_method(config, DataSpec((28, 28, 1), "bernoulli"))
        x = jnp.full((8, 28, 28, 1), 0.5)
        variables = jax.jit(method.init)(jax.random.PRNGKey(0), x)  # one compile each, not one per operation
        out, _ = jax.jit(method.losses, static_argnums=4)(variables["params"], variables["batch_stats"], {"x": x},
                                                          jax.random.PRNGKey(1), 0)
    finally:
        for name in ("mypkg.mmd_vae", "mypkg"):
            sys.modules.pop(name, None)
    assert method.players == ("vae",) and method.lambda_ == 100.0
    loss, metrics = out["vae"]
    assert set(metrics) >= {"recon_nll", "kl", "elbo", "mmd"} and np.isfinite(float(loss))


def test_site_builds_in_strict_mode(tmp_path):
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        message = "mkdocs is missing: install the docs extra, pip install -e '.[docs]' (make setup does)"
        if os.environ.get("CI"):  # CI installs it (make setup): a missing install step must not pass as a skip
            pytest.fail(message)
        pytest.skip(message)
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site),
                           "--config-file", os.path.join(REPO, "mkdocs.yml")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    losses_page = (site / "api" / "losses.html").read_text()
    for name in ("nwj_bound", "gaussian_kl", "arXiv:1912.13361", "&gt;&gt;&gt;"):
        assert name in losses_page, f"the losses page lacks {name}"
    for page in ("guides/quickstart.html", "guides/own-data.html", "guides/mi-estimators.html", "design.html"):
        assert (site / page).is_file(), page
    assert "x_train" in (site / "guides" / "own-data.html").read_text()  # the README's section was included
