"""SAE configuration (serialised as cfg.json beside the weights)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from ..errors import UserError

ARCHITECTURES = ("relu", "topk", "batchtopk", "jumprelu")
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
    k: int | None = None                      # topk / batchtopk: active latents per token
    l1_coeff: float = 5.0                     # relu: λ of λ·Σ f_i‖d_i‖; jumprelu: coefficient of L0
    hook: str | None = None
    model: str | None = None
    norm_scalar: float = 1.0                  # input multiplier the weights expect (1 once folded)
    dtype: str = "float32"
    apply_b_dec_to_input: bool = False        # encoder sees x − b_dec (not in the April recipe)
    normalize_decoder: bool | None = None     # unit-norm decoder rows during training (default: not relu)
    decoder_init_norm: float = 0.1            # relu recipe: random directions with this norm
    jumprelu_bandwidth: float = 0.001         # width of the straight-through rectangle kernel
    jumprelu_init_threshold: float = 0.001
    batchtopk_threshold_momentum: float = 0.01
    decoder_norms_folded: bool = False        # analysis convention applied (W_dec rows unit norm)
    folded_norm_scalar: float | None = None   # the scalar that was folded into the weights on export
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise SAEError(f"unknown SAE architecture {self.architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
        if self.d_in <= 0 or self.n_latents <= 0:
            raise SAEError(f"d_in and n_latents must be positive (got {self.d_in}, {self.n_latents})")
        if self.architecture in ("topk", "batchtopk"):
            if self.k is None or self.k <= 0:
                raise SAEError(f"architecture {self.architecture} needs k > 0")
            if self.k > self.n_latents:
                raise SAEError(f"k={self.k} exceeds n_latents={self.n_latents}")
        if self.normalize_decoder is None:
            self.normalize_decoder = self.architecture != "relu"
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
