import pytest
import torch

from gclenet.models import ABLATION_TABLES, create_model, is_reparameterized, list_models, reparameterize_model
from tests.conftest import randomize_batchnorm

ALL = list_models()
# The quick run (-m "not slow") checks the shipped model and the baseline; every ablation variant runs in the full run.
ALL_QUICK_FIRST = [name if name in ("gclenet", "resnet34") else pytest.param(name, marks=pytest.mark.slow)
                   for name in ALL]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_has_every_ablation_variant():
    for names in ABLATION_TABLES.values():
        assert set(names) <= set(ALL)
    assert {"resnet34", "gclenet_lfa", "gclenet_mgc", "gclenet"} <= set(ALL)


def test_unknown_name_lists_valid_names():
    with pytest.raises(KeyError, match="valid names: resnet34, gclenet_lfa"):
        create_model("gclenet_huge")


def test_unknown_override_is_an_error():
    with pytest.raises(TypeError, match="lfa_kernel"):
        create_model("gclenet", lfa_kernel=("3x3",))


def test_parameter_counts_match_the_paper():
    base = create_model("resnet34")
    assert n_params(base) == 21_288_263  # the paper's 21.29 M
    lfa_deploy = n_params(reparameterize_model(create_model("gclenet_lfa")))
    assert abs(lfa_deploy - 21_580_000) <= 10_000  # Fig. 14: 21.58 M
    assert lfa_deploy - n_params(base) == 8 * (64 * 64 * 9 + 64)  # 8 fused 3x3 convs
    mgc = create_model("gclenet_mgc")
    for count in (n_params(mgc), n_params(reparameterize_model(mgc))):
        assert 30_000 <= count - n_params(base) <= 150_000  # paper: 0.07 M


@pytest.mark.parametrize("name", ALL_QUICK_FIRST)
def test_reparameterized_model_computes_the_same_function(name):
    model = randomize_batchnorm(create_model(name)).eval()
    deploy = reparameterize_model(model)
    assert is_reparameterized(deploy) and (name == "resnet34" or not is_reparameterized(model))
    for size in (224, 112, 100):
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            expected, got = model(x), deploy(x)
        assert got.shape == (2, 7)
        assert (expected - got).abs().max() <= 1e-4 * expected.abs().max()


def test_reparameterize_is_idempotent_and_copies_by_default():
    model = randomize_batchnorm(create_model("gclenet")).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    deploy = reparameterize_model(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched
    state = {k: v.clone() for k, v in deploy.state_dict().items()}
    again = reparameterize_model(deploy, inplace=True)
    assert again is deploy
    assert state.keys() == deploy.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in deploy.state_dict().items())


@pytest.mark.parametrize("size", [224, 160, 112, 96, 100, 64, 50])
def test_any_input_size(size):
    model = create_model("gclenet", num_classes=5).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, size, size)).shape == (1, 5)


@pytest.mark.parametrize("name", ALL_QUICK_FIRST)
def test_forward_backward_every_parameter_learns(name):
    # Zero-initialised branches would (correctly) give zero gradients upstream at
    # step 0; switch that off so every parameter must receive a non-zero gradient.
    model = create_model(name, num_classes=3, zero_init_branches=False, drop_rate=0.1).train()
    x = torch.randn(4, 3, 64, 64)
    out = model(x)
    assert out.shape == (4, 3) and torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    # Two biases cannot learn, exactly as in the original ACMix: the positional bias adds the
    # same q.b to every key of a query (softmax drops it), and the conv-path bias is removed by
    # the batch norm after it. Their gradients are rounding noise (~1e-8), so not asserted.
    gradient_free = ("mixer.pos_proj.bias", "mixer.conv_shift.bias")
    for pname, param in model.named_parameters():
        assert param.grad is not None, pname
        assert torch.isfinite(param.grad).all(), pname
        if not pname.endswith(gradient_free):
            assert param.grad.abs().sum() > 0, pname


def test_zero_initialised_branches_start_as_the_backbone():
    torch.manual_seed(1)
    full = create_model("gclenet").eval()
    base = create_model("resnet34").eval()
    base.load_state_dict({k: v for k, v in full.state_dict().items() if not k.startswith(("lfa.", "mgc."))})
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(full(x), base(x))


def test_reset_classifier():
    model = create_model("gclenet_lfa")
    model.reset_classifier(3)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 3) and model.config.num_classes == 3
