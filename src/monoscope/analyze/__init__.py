"""The paper's feature analyses, each a function first and a `monoscope analyze <name>` command second.

    from monoscope.analyze import open_workbench, run_concept_steering
    wb = open_workbench("runs/demo/sae")            # the SAE, its feature database (found beside it), the model
    res = run_concept_steering(wb)                  # steered vs unsteered vs diff-of-means vs random feature

One module per analysis: `steering` (concept steering, measured), `attribution` (attribution vs ablation vs
activation), `multilingual` (features shared across parallel translations), `splitting` (a feature and its
decoder neighbours in wider SAEs), `completeness` (does a feature exist for each member of a concept family,
vs its frequency), `safety` (the synthetic-document features of a model organism's SAE). Each returns a
result dict that `common.save_result` writes as JSON + a plot; see `common` for the layout.
"""
from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "AnalysisError": "common",
    "Workbench": "common",
    "load_results": "common",
    "open_workbench": "common",
    "save_result": "common",
    "run_concept_steering": "steering",
})
