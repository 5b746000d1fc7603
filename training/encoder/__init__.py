"""Pretraining the AoE video encoder on the synthetic world: data, objectives (contrastive, region labels, distillation), teacher, training loop, evaluation."""
