import pytest
import torch

from skae._engine._runtime import resolve_device, seeded, torch_threads


def test_cpu_and_auto_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "", 3])
def test_unknown_device_strings_are_refused(bad):
    with pytest.raises(ValueError, match="'cpu', 'cuda', 'cuda:N' or 'auto'"):
        resolve_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


def test_thread_count_is_restored():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_seeded_is_reproducible_and_restores_the_global_state():
    torch.manual_seed(5)
    with seeded(1, torch.device("cpu")):
        a = torch.rand(2)
    outside = torch.rand(2)
    torch.manual_seed(5)
    with seeded(1, torch.device("cpu")):
        b = torch.rand(2)
    assert torch.equal(a, b)
    assert torch.equal(torch.rand(2), outside)
