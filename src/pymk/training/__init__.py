"""Training use cases: training sets, train/evaluate/gate, and experiment tracking (:mod:`.tracking`).

Nothing is imported here, so ``import pymk.training.tracking`` stays cheap (MLflow loads on first use).
"""
