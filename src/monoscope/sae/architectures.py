"""Architecture name → SAE class: the one table the loader, the trainer and the strategies look classes up in."""
from __future__ import annotations

from .batchtopk import BatchTopKSAE
from .gated import GatedSAE
from .jumprelu import JumpReLUSAE
from .matryoshka import MatryoshkaSAE
from .relu import ReluSAE
from .topk import TopKSAE

ARCHITECTURE_CLASSES = {"relu": ReluSAE, "topk": TopKSAE, "batchtopk": BatchTopKSAE, "jumprelu": JumpReLUSAE,
                        "matryoshka": MatryoshkaSAE, "gated": GatedSAE}
