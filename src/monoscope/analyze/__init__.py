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
from .common import AnalysisError, Workbench, load_results, open_workbench, save_result

__all__ = ["AnalysisError", "Workbench", "load_results", "open_workbench", "save_result"]
