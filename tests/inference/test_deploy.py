import logging

import pytest
import torch

from gclenet.inference.deploy import deploy_weights_path, load_deploy_model
from gclenet.inference.export import save_weights
from gclenet.models import create_model, is_reparameterized, load
from tests.conftest import randomize_batchnorm, weights_info


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(1)
    model = randomize_batchnorm(create_model("gclenet", zero_init_branches=False)).eval()
    info = weights_info(model_overrides={"drop_rate": 0.3})
    return save_weights(model, info, tmp_path_factory.mktemp("deploy") / "w.safetensors", half=False)


def test_cached_deploy_model_computes_what_folding_does(weights, tmp_path, caplog):
    reference, reference_info = load(weights, reparameterize=True)
    first, info = load_deploy_model(weights, cache=tmp_path)  # folds and writes the cache
    cached = deploy_weights_path(weights, tmp_path)
    written = cached.stat().st_mtime_ns
    again, again_info = load_deploy_model(weights, cache=tmp_path)  # from the cache
    assert cached.stat().st_mtime_ns == written and again_info == info == reference_info
    assert is_reparameterized(again) and not again.training
    assert all(not t.is_meta for t in [*again.parameters(), *again.buffers()])
    x = torch.randn(3, 3, 48, 48)
    with torch.inference_mode():
        expected = reference(x)
        torch.testing.assert_close(first(x), expected, rtol=0, atol=0)
        torch.testing.assert_close(again(x), expected, rtol=0, atol=0)

    # A cache file that does not fit (or is truncated) is folded and written again.
    from safetensors.torch import load_file, save_file

    state = load_file(str(cached))
    del state["fc.weight"]
    save_file(state, str(cached), metadata={"gclenet": info.to_json()})
    with caplog.at_level(logging.WARNING):
        healed, _ = load_deploy_model(weights, cache=tmp_path)
    assert "unusable cached deploy weights" in caplog.text and "fc.weight" in load_file(str(cached))
    with torch.inference_mode():
        torch.testing.assert_close(healed(x), expected, rtol=0, atol=0)


def test_cache_is_keyed_by_the_weights_file(weights, tmp_path):
    other = tmp_path / "w.safetensors"  # the same name, other tensors
    save_weights(create_model("gclenet").eval(), weights_info(), other, half=False)
    assert deploy_weights_path(weights, tmp_path) != deploy_weights_path(other, tmp_path)
    assert deploy_weights_path(weights, tmp_path).parent == tmp_path / "deploy"


def test_without_cache_nothing_is_written(weights, tmp_path):
    model, _ = load_deploy_model(weights, cache=tmp_path, use_cache=False)
    assert is_reparameterized(model) and not (tmp_path / "deploy").exists()


def test_an_unwritable_cache_folds_in_memory(weights, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    model, _ = load_deploy_model(weights, cache=blocked)
    assert is_reparameterized(model)
