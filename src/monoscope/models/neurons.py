"""Where a model's MLP neurons are: the module whose input is a layer's hidden units, and which layer's MLP
last wrote into the residual stream at a hook. Feature scans and the features-vs-neurons evaluation both
read neurons through these."""
from __future__ import annotations

import torch

from ..errors import UserError


class NeuronError(UserError):
    """A model whose layer has no MLP neurons where monoscope looks for them."""


def mlp_neuron_module(lm, layer: int) -> torch.nn.Module:
    """The module whose *input* is layer `layer`'s MLP hidden units: the last linear map of the block from a
    width other than d_model back to d_model (Llama `mlp.down_proj`, BERT `output.dense`, GPT-2
    `mlp.c_proj`)."""
    block = lm.hooked.layers[layer]
    d = lm.d_model
    found = None
    for _, m in block.named_modules():
        w = getattr(m, "weight", None)
        if w is None or w.dim() != 2:
            continue
        if hasattr(m, "in_features"):
            n_in, n_out = m.in_features, m.out_features
        elif hasattr(m, "nf") and hasattr(m, "nx"):   # GPT-2 Conv1D
            n_in, n_out = m.nx, m.nf
        else:
            continue
        if n_out == d and n_in != d:
            found = m
    if found is None:
        raise NeuronError(f"{lm.name} layer {layer} has no MLP output projection (a linear map from the MLP's "
                        f"hidden width to d_model={d}); neuron baselines need a dense MLP")
    return found


def hook_layer(hook: str) -> int:
    """The layer whose MLP last wrote into the residual stream at `hook` (resid_pre.L reads layer L−1)."""
    kind, _, layer = hook.partition(".")
    L = int(layer)
    return L - 1 if kind == "resid_pre" else L
