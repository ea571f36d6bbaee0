"""The README's main job: InfoMax-VAE on the offline Fashion-MNIST, sized for a few minutes on a laptop CPU.

It is configs/infomax_vae.py with 1000 steps (arguments as there); for the paper-length run use
``configs/infomax_vae.py:epochs=100``.
"""

from configs import infomax_vae


def get_config(arg=None):
    config = infomax_vae.get_config(f"steps=1000,{arg}" if arg else "steps=1000")
    config.eval.mi_critic_steps = min(config.eval.mi_critic_steps, 500) if config.eval.mi_critic_steps > 0 else 500
    return config
