"""VIMAE-l: loss = -E_q[log p(x|z)] + lambda_ * MMD(q(z), Logistic(0, 1)^d) (section V, eq. 5/12).

Generation samples z from the Logistic prior (VIM.sample_prior). ``prior_scale=0.5513`` (sqrt(3)/pi)
gives the unit-variance Logistic, whose entropy is below N(0, 1)'s (section III.B). Settings and
arguments as configs/vim_normal.py.

python -m mi_vae.main --config=configs/vim_logistic.py --workdir=runs/vimae_l
"""

from configs.vim_normal import build


def get_config(arg=None):
    return build("logistic", arg)
