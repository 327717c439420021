"""Training and evaluating models with Lightning: config, LightningModule, DataModule, evaluation.

It imports no inference or cli code (checked by the import contracts).
"""
