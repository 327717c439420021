"""The DataModule's loaders on small or mismatched folders."""

import logging

from gclenet.training.datamodule import FERDataModule
from gclenet.training.config import DataConfig
from tests.data.layouts import class_folders


def test_a_set_smaller_than_a_batch_still_trains_and_an_empty_class_is_named(tmp_path, caplog):
    class_folders(tmp_path / "train", {"smile": 3, "frown": 2})
    class_folders(tmp_path / "test", {"smile": 1, "frown": 1})
    config = DataConfig(dataset="folder", root=str(tmp_path), classes=["smile", "frown", "yawn"], batch_size=64,
                        input_size=16)
    datamodule = FERDataModule(config, seed=0)
    with caplog.at_level(logging.WARNING):
        datamodule.setup("fit")
    assert "no training images of class(es) yawn" in caplog.text
    batches = list(datamodule.train_dataloader())
    assert len(batches) == 1 and batches[0][0].shape[0] == 5  # one batch of all 5, not zero batches
    config.batch_size = 2
    assert len(datamodule.train_dataloader()) == 2  # full batches only, once there are enough images


def test_each_epoch_and_rank_draws_its_own_augmentations(tmp_path):
    import torch

    from gclenet.training.datamodule import EpochSeededSampler

    dataset = list(range(8))

    def first_draw(epoch: int, rank: int) -> tuple[list[int], float]:
        sampler = EpochSeededSampler(dataset, num_replicas=2, rank=rank, shuffle=True, seed=7)
        sampler.set_epoch(epoch)
        torch.manual_seed(123)  # whatever state the process was left in
        order = list(sampler)
        return order, torch.rand(()).item()

    (order_0, draw_0), (order_1, draw_1) = first_draw(3, rank=0), first_draw(3, rank=1)
    assert set(order_0).isdisjoint(order_1) and draw_0 != draw_1  # ranks no longer repeat each other's draws
    assert first_draw(3, rank=0) == (order_0, draw_0)  # a resumed epoch 3 draws as the first one did
    assert first_draw(4, rank=0)[1] != draw_0

    # loader workers: their own seeds from (seed, epoch, rank, worker), whatever the main process holds
    from gclenet.training.datamodule import _seed_worker

    def worker_draw(rank: int, worker: int, main_seed: int = 0) -> float:
        sampler = EpochSeededSampler(dataset, num_replicas=2, rank=rank, shuffle=True, seed=7)
        sampler.set_epoch(3)
        torch.manual_seed(main_seed)  # what the main process holds (rank 0's state on every rank after a DDP resume)
        _seed_worker(sampler, worker)
        return torch.rand(()).item()

    draws = {(rank, worker): worker_draw(rank, worker) for rank in (0, 1) for worker in (0, 1)}
    assert len(set(draws.values())) == 4 and worker_draw(1, 0, main_seed=99) == draws[1, 0]
