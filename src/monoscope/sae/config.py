"""SAE configuration (serialised as cfg.json beside the weights).

Per-architecture defaults that depend on the input width are filled in by `SAEConfig.__post_init__` and
written to cfg.json, so a file always states the values it was trained with.

JumpReLU defaults (Rajamanoharan et al. 2024, "Jumping Ahead"; Gemma Scope, Lieberum et al. 2024): threshold
initialised to 0.001 and a rectangle-kernel bandwidth of 0.001, L0 coefficient λ = 5e-4 (the largest of the
Gemma Scope 2B sparsity sweep), step-function L0 loss. Those values are in the papers' units, where the
activations are scaled to unit mean squared norm and the loss sums the squared error over the d_in
dimensions; monoscope's trainer scales activations to E‖x‖² = d_in instead (the April-2024 update), which
multiplies activations by √d_in and the squared error by d_in. So the stored defaults are the papers' values
converted: threshold and bandwidth 0.001·√d_in, λ = 5e-4·d_in. The optimiser half of the recipe (Adam with
β1 = 0, β2 = 0.999, learning rate 7e-5) comes from the architecture class (`JumpReLUSAE.adam_betas`,
`trainer.default_lr`).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from ..errors import UserError

ARCHITECTURES = ("relu", "topk", "batchtopk", "jumprelu", "matryoshka", "gated")
TOPK_FAMILY = ("topk", "batchtopk", "matryoshka")            # architectures with a k
JUMPRELU_LOSSES = ("step", "tanh", "quadratic")
PAPER_JUMPRELU_THRESHOLD = 0.001          # threshold init and bandwidth, unit-mean-squared-norm units
PAPER_JUMPRELU_L0_COEFF = 5e-4            # λ of λ·L0, same units
FORMAT = "monoscope-sae"
FORMAT_VERSION = 1


class SAEError(UserError):
    """A bad SAE file, a mismatched checkpoint, or input that does not fit an SAE."""


@dataclass
class SAEConfig:
    """Everything needed to rebuild an SAE and to know what it applies to.

    The SAE acts on `norm_scalar · x` where x is the raw activation at `hook` of `model`; `encode` and
    `decode` apply and undo the scalar themselves, so callers always pass raw activations. Exported SAEs
    have the scalar folded into the weights (norm_scalar = 1, `folded_norm_scalar` records it).
    """

    architecture: str
    d_in: int
    n_latents: int
    k: int | None = None                      # topk / batchtopk / matryoshka: active latents per token
    l1_coeff: float | None = None             # relu, gated: λ of λ·Σ f_i‖d_i‖ (default 5); jumprelu: the
                                              # coefficient of the L0 term (default 5e-4·d_in, see above)
    hook: str | None = None
    model: str | None = None
    norm_scalar: float = 1.0                  # input multiplier the weights expect (1 once folded)
    dtype: str = "float32"
    apply_b_dec_to_input: bool | None = None  # encoder sees x − b_dec (default: only gated, as in its paper;
                                              # not in the April recipe)
    normalize_decoder: bool | None = None     # unit-norm decoder rows during training (default: not relu)
    decoder_init_norm: float = 0.1            # relu recipe: random directions with this norm
    jumprelu_bandwidth: float | None = None   # width of the straight-through rectangle kernel (0.001·√d_in)
    jumprelu_init_threshold: float | None = None   # (0.001·√d_in)
    jumprelu_sparsity_loss: str = "step"      # "step" (L0, DeepMind), "tanh" (Anthropic, Feb 2025),
                                              # "quadratic" (around target_l0, Gemma Scope 2)
    jumprelu_tanh_scale: float = 4.0          # tanh loss: Σ tanh(scale · f_i‖d_i‖)
    target_l0: float | None = None            # quadratic loss: the L0 it pulls towards
    matryoshka_widths: list[int] | None = None  # nested prefix sizes, increasing, last = n_latents
    batchtopk_threshold_momentum: float = 0.01
    decoder_norms_folded: bool = False        # analysis convention applied (W_dec rows unit norm)
    folded_norm_scalar: float | None = None   # the scalar that was folded into the weights on export
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise SAEError(f"unknown SAE architecture {self.architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
        if self.d_in <= 0 or self.n_latents <= 0:
            raise SAEError(f"d_in and n_latents must be positive (got {self.d_in}, {self.n_latents})")
        if self.architecture in TOPK_FAMILY:
            if self.k is None or self.k <= 0:
                raise SAEError(f"architecture {self.architecture} needs k > 0")
            if self.k > self.n_latents:
                raise SAEError(f"k={self.k} exceeds n_latents={self.n_latents}")
        if self.apply_b_dec_to_input is None:
            self.apply_b_dec_to_input = self.architecture == "gated"
        if self.normalize_decoder is None:
            self.normalize_decoder = self.architecture != "relu"
        if self.l1_coeff is None:
            self.l1_coeff = PAPER_JUMPRELU_L0_COEFF * self.d_in if self.architecture == "jumprelu" else 5.0
        unit = PAPER_JUMPRELU_THRESHOLD * math.sqrt(self.d_in)
        if self.jumprelu_bandwidth is None:
            self.jumprelu_bandwidth = unit
        if self.jumprelu_init_threshold is None:
            self.jumprelu_init_threshold = unit
        if self.jumprelu_sparsity_loss not in JUMPRELU_LOSSES:
            raise SAEError(f"unknown jumprelu_sparsity_loss {self.jumprelu_sparsity_loss!r}; choose one of "
                           f"{', '.join(JUMPRELU_LOSSES)}")
        if self.architecture == "jumprelu" and self.jumprelu_sparsity_loss == "quadratic" \
                and not (self.target_l0 and self.target_l0 > 0):
            raise SAEError("the quadratic JumpReLU loss pulls L0 towards target_l0: give target_l0 > 0")
        if self.architecture == "matryoshka":
            self.matryoshka_widths = self._check_widths(self.matryoshka_widths)

    def _check_widths(self, widths: list[int] | None) -> list[int]:
        """Nested prefix sizes: strictly increasing, positive, ending at n_latents (added if missing).
        Default: four levels, each twice the previous (n/8, n/4, n/2, n), as in Bussmann et al. 2025."""
        if not widths:
            n = self.n_latents
            widths = sorted({max(1, n // 8), max(1, n // 4), max(1, n // 2), n})
        widths = [int(w) for w in widths]
        if widths[-1] != self.n_latents:
            widths.append(self.n_latents)
        if any(w <= 0 for w in widths) or any(a >= b for a, b in zip(widths, widths[1:])):
            raise SAEError(f"matryoshka_widths must be positive, strictly increasing and end at n_latents="
                           f"{self.n_latents}; got {widths}")
        return widths
        if not self.norm_scalar > 0:
            raise SAEError(f"norm_scalar must be positive, got {self.norm_scalar}")

    # ---- serialisation ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["format"], d["format_version"] = FORMAT, FORMAT_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SAEConfig":
        if not isinstance(d, dict):
            raise SAEError("cfg.json must hold a JSON object")
        if d.get("format", FORMAT) != FORMAT:
            raise SAEError(f"cfg.json is a {d.get('format')!r} config, not {FORMAT!r}")
        if int(d.get("format_version", 1)) > FORMAT_VERSION:
            raise SAEError(f"cfg.json has format_version {d['format_version']}, newer than this monoscope "
                           f"understands ({FORMAT_VERSION}); upgrade monoscope")
        missing = [k for k in ("architecture", "d_in", "n_latents") if k not in d]
        if missing:
            raise SAEError(f"cfg.json lacks {', '.join(missing)}: not a monoscope SAE config")
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: str | Path) -> "SAEConfig":
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise SAEError(f"{path} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise SAEError(f"{path} is not valid JSON ({e})") from None
        return cls.from_dict(d)
