"""GCLENet (LSDC-FER): ResNet-34 with local feature enhancement and global association.

Chen, Yan, Wang, Adamyk, "Improved Facial Expression Recognition Algorithm Based on
Local Feature Enhancement and Global Information Association", Electronics 13 (2024)
2813, https://doi.org/10.3390/electronics13142813. Our reading of its garbled parts is
``shared/design/gclenet.md``; in short::

    F = stem(x)                         # ResNet-34 conv1/bn1/relu/maxpool: 64 x H/4 x W/4
    X = F + MGC(F) + LFA(F)             # "local features merged into global as residuals"
    logits = fc(pool(layer4(...layer1(X))))

Both branches start at zero (zero-initialised last BN), so at step 0 the network is the
plain backbone and an ImageNet-initialised ResNet-34 starts intact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models import resnet34 as torchvision_resnet34

from gclenet.models._backbone import load_backbone_weights
from gclenet.models._registry import get_model_builder, register_model
from gclenet.models.lfa import LocalFeatureEnhancement
from gclenet.models.mgc import MultiScaleGlobalAssociation
from gclenet.models.weights import WeightsInfo, build_trained

__all__ = ["GCLENetConfig", "GCLENet", "create_model", "ABLATION_TABLES"]


@dataclass(frozen=True)
class GCLENetConfig:
    """Architecture of one GCLENet variant (every ablation is a setting here)."""

    num_classes: int = 7
    lfa: bool = True  # local feature enhancement branch
    lfa_split: bool = True  # 2x2 quadrants (False: whole map, Table 6 a)
    lfa_kernels: tuple[str, ...] = ("3x3", "1x3", "3x1")  # branches of each asymmetric block
    mgc: bool = True  # multi-scale global association branch
    mgc_multiscale: bool = True  # grouped 1/3/5/7 stage (False: one 3x3 conv, Table 7 b)
    mgc_groups: int = 4  # channel groups n of the multi-scale stage
    mgc_mixer: str = "acmix"  # "acmix" or "conv3x3" (ACMix removed, Table 7 c)
    acmix_heads: int = 4
    acmix_window: int = 7  # attention neighbourhood k_att
    acmix_conv_kernel: int = 3  # convolution-path kernel k_conv
    attention_block: int | None = None  # query block of the blocked attention (None: auto)
    zero_init_branches: bool = True  # LFA and MGC start silent
    drop_rate: float = 0.0  # dropout before the classifier

    def __post_init__(self) -> None:
        object.__setattr__(self, "lfa_kernels", tuple(self.lfa_kernels))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "GCLENetConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(f"unknown GCLENet option(s) {unknown}; valid: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["lfa_kernels"] = list(self.lfa_kernels)
        return values


class GCLENet(nn.Module):
    """ResNet-34 whose stem output is enhanced by LFA and MGC before layer1."""

    def __init__(self, config: GCLENetConfig = GCLENetConfig()) -> None:
        super().__init__()
        self.config = config
        self.weights_info: WeightsInfo | None = None  # the record of trained weights, set when loaded
        backbone = torchvision_resnet34(num_classes=config.num_classes)
        # torchvision's attribute names, so its state dicts load unchanged.
        self.conv1, self.bn1, self.relu, self.maxpool = (
            backbone.conv1, backbone.bn1, backbone.relu, backbone.maxpool,
        )
        channels = backbone.inplanes // 8  # 64: the stem width
        self.lfa = (
            LocalFeatureEnhancement(
                channels, split=config.lfa_split, kernels=config.lfa_kernels,
                zero_init=config.zero_init_branches,
            )
            if config.lfa
            else None
        )
        self.mgc = (
            MultiScaleGlobalAssociation(
                channels, multiscale=config.mgc_multiscale, groups=config.mgc_groups,
                mixer=config.mgc_mixer, num_heads=config.acmix_heads, window=config.acmix_window,
                conv_kernel=config.acmix_conv_kernel, block_size=config.attention_block,
                zero_init=config.zero_init_branches,
            )
            if config.mgc
            else None
        )
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4,
        )
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(config.drop_rate)
        self.fc = backbone.fc
        self.num_features = self.fc.in_features

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    def forward_stem(self, x: Tensor) -> Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward_fusion(self, features: Tensor) -> Tensor:
        """``X = G + L`` with ``G = F + MGC(F)`` and ``L = LFA(F)``."""
        out = features
        if self.mgc is not None:
            out = out + self.mgc(features)
        if self.lfa is not None:
            out = out + self.lfa(features)
        return out

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.forward_fusion(self.forward_stem(x))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.drop(torch.flatten(self.global_pool(x), 1))
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head with a freshly initialised one for ``num_classes`` classes."""
        self.fc = nn.Linear(self.num_features, num_classes).to(self.fc.weight.device)
        self.config = replace(self.config, num_classes=num_classes)


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    weights: str | Path | None = None,
    backbone_weights: str | Path | None = None,
    **overrides: Any,
) -> GCLENet:
    """Build a registered variant, optionally with trained weights.

    Args:
        name: one of :func:`gclenet.models.list_models` (``resnet34``, ``gclenet_lfa``,
            ``gclenet_mgc``, ``gclenet`` and the Table 6/7 variants).
        num_classes: classifier outputs; default 7, or the class count of ``weights``.
            Another count than the weights' keeps everything but a fresh classifier.
        weights: ``None``, a shipped name (``"fer2013"``: trained by us, ships in the
            package, no network), a ``.safetensors`` written by ``gclenet export`` or a
            training checkpoint. The model then carries the weights' record in
            ``model.weights_info`` (:class:`~gclenet.models.weights.WeightsInfo`).
            :func:`gclenet.models.load` is the same for the variant the weights name.
        backbone_weights: ``None`` (random init), ``"imagenet"`` (torchvision's
            ResNet34_Weights.IMAGENET1K_V1; downloads) or a local state-dict file.
        **overrides: :class:`GCLENetConfig` fields that replace the variant's.

    Raises:
        KeyError: unknown ``name`` (the message lists the valid ones) or weights tag.
        TypeError: unknown override.
        ValueError: ``weights`` of another variant, or both kinds of weights given.
    """
    if weights is None:
        return get_model_builder(name)(num_classes=num_classes or 7, backbone_weights=backbone_weights, **overrides)
    if backbone_weights is not None:
        raise ValueError("pass weights= or backbone_weights=, not both: trained weights replace the backbone's")
    return build_trained(weights, name, num_classes=num_classes, **overrides)


def _create_gclenet(
    variant: dict[str, Any], *, num_classes: int, backbone_weights: str | Path | None, **overrides: Any
) -> GCLENet:
    model = GCLENet(GCLENetConfig.from_dict({**variant, "num_classes": num_classes, **overrides}))
    if backbone_weights is not None:
        load_backbone_weights(model, backbone_weights, new_modules=("lfa.", "mgc."))
    return model


# Table 5: the modules.
@register_model
def resnet34(**kwargs: Any) -> GCLENet:
    """Plain ResNet-34 (the baseline): X = F."""
    return _create_gclenet(dict(lfa=False, mgc=False), **kwargs)


@register_model
def gclenet_lfa(**kwargs: Any) -> GCLENet:
    """ResNet-34 + LFA (also Table 7 d: no MGC)."""
    return _create_gclenet(dict(mgc=False), **kwargs)


@register_model
def gclenet_mgc(**kwargs: Any) -> GCLENet:
    """ResNet-34 + MGC."""
    return _create_gclenet(dict(lfa=False), **kwargs)


@register_model
def gclenet(**kwargs: Any) -> GCLENet:
    """The full model: ResNet-34 + LFA + MGC (also Table 6 d and Table 7 a)."""
    return _create_gclenet({}, **kwargs)


# Table 6: inside LFA (full model otherwise).
@register_model
def gclenet_t6a_nosplit_conv3x3(**kwargs: Any) -> GCLENet:
    """Table 6 (a): two plain 3x3 convs on the whole map, no split."""
    return _create_gclenet(dict(lfa_split=False, lfa_kernels=("3x3",)), **kwargs)


@register_model
def gclenet_t6b_split_conv3x3(**kwargs: Any) -> GCLENet:
    """Table 6 (b): 2x2 split, plain 3x3 convs per quadrant."""
    return _create_gclenet(dict(lfa_kernels=("3x3",)), **kwargs)


@register_model
def gclenet_t6c_split_asym(**kwargs: Any) -> GCLENet:
    """Table 6 (c): 2x2 split, asymmetric 1x3 + 3x1 convs only."""
    return _create_gclenet(dict(lfa_kernels=("1x3", "3x1")), **kwargs)


# Table 7: inside MGC (full model otherwise).
@register_model
def gclenet_t7b_single_scale(**kwargs: Any) -> GCLENet:
    """Table 7 (b): multi-scale stage replaced by one 3x3 conv."""
    return _create_gclenet(dict(mgc_multiscale=False), **kwargs)


@register_model
def gclenet_t7c_no_acmix(**kwargs: Any) -> GCLENet:
    """Table 7 (c): ACMix removed, a 3x3 conv in its place."""
    return _create_gclenet(dict(mgc_mixer="conv3x3"), **kwargs)


ABLATION_TABLES: dict[int, tuple[str, ...]] = {
    5: ("resnet34", "gclenet_lfa", "gclenet_mgc", "gclenet"),
    6: ("gclenet_t6a_nosplit_conv3x3", "gclenet_t6b_split_conv3x3", "gclenet_t6c_split_asym", "gclenet"),
    7: ("gclenet", "gclenet_t7b_single_scale", "gclenet_t7c_no_acmix", "gclenet_lfa"),
}
