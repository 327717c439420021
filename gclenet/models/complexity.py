"""Parameters and MACs per variant, beside the paper's numbers (Fig. 14-15).

MACs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (PyTorch's maintained
counter) on one image through the deploy model: convolutions, linear layers and the
attention matmuls, exactly as executed (the blocked attention also computes the
logits its mask discards, so its count is above the ideal 7x7-window count).
Normalisation, activations, pooling and additions are not counted (neither does thop,
the paper's counter, for most of them). FLOPs = 2 x MACs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from gclenet.models import create_model, reparameterize_model

__all__ = ["PAPER", "MAIN_VARIANTS", "VariantComplexity", "measure_complexity"]

MAIN_VARIANTS = ("resnet34", "gclenet_lfa", "gclenet_mgc", "gclenet")

# The paper's Fig. 14 (parameters, M) and Fig. 15 (thop "FLOPs", M, at 224x224).
PAPER: dict[str, dict[str, float | None]] = {
    "resnet34": {"params_m": 21.29, "flops_m": 3678.23},
    "gclenet_lfa": {"params_m": 21.58, "flops_m": 3911.05},
    "gclenet_mgc": {"params_m": 21.36, "flops_m": None},  # "MGC adds about 0.07 M"
    "gclenet": {"params_m": 21.65, "flops_m": 3905.07},
}


@dataclass(frozen=True)
class VariantComplexity:
    name: str
    params: int  # training-time parameters
    params_deploy: int  # after re-parameterisation
    macs_deploy: int  # multiply-accumulates of one image through the deploy model
    attention_macs: int  # of which in the attention matmuls

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)


def _cpu_flash_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# The counter knows the CUDA attention kernels but not the CPU one our blocked
# attention dispatches to; count it with the same formula.
_EXTRA_FORMULAS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_attention_flops}


@torch.no_grad()
def measure_complexity(name: str, *, input_size: int = 224, num_classes: int = 7) -> VariantComplexity:
    model = create_model(name, num_classes=num_classes).eval()
    deploy = reparameterize_model(model)
    counter = FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS)
    with counter:
        deploy(torch.zeros(1, 3, input_size, input_size))
    by_op = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    attention = sum(n for op, n in by_op.items() if "attention" in op or "bmm" in op)
    return VariantComplexity(
        name=name,
        params=sum(p.numel() for p in model.parameters()),
        params_deploy=sum(p.numel() for p in deploy.parameters()),
        macs_deploy=counter.get_total_flops() // 2,
        attention_macs=attention // 2,
    )
