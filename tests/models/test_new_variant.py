"""Adding a model variant is one registered builder: the example of docs/ARCHITECTURE.md
("Add a model variant"), run as it stands there, is listed, built and folds exactly."""

import re
import textwrap
from pathlib import Path

import torch

from gclenet.models import _registry, create_model, list_models, reparameterize_model
from gclenet.models import gclenet as family

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md"


def test_the_documented_variant_registers_builds_and_folds(monkeypatch):
    monkeypatch.setattr(_registry, "_BUILDERS", dict(_registry._BUILDERS))
    section = ARCHITECTURE.read_text().split("## Add a model variant", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(textwrap.dedent(code), f"{ARCHITECTURE} (Add a model variant)", "exec"), vars(family).copy())
    assert "gclenet_wide_window" in list_models()
    model = create_model("gclenet_wide_window", num_classes=3, zero_init_branches=False).eval()
    assert model.config.acmix_window == 9
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(reparameterize_model(model)(x), model(x), rtol=1e-4, atol=1e-4)
