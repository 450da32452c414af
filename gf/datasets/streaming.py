"""Streaming a training split from webdataset shards, for benchmarks too large for random access.

Why a second way to read the same split: random access (:class:`~gf.datasets.videoqa.VideoQADataset`
over a :class:`~gf.datasets.webdataset_store.WebDatasetStore`) reads one tar member per sample
at a random offset, which on a network file system or a cold disk costs a seek per sample.
Streaming reads whole shards front to back; the price is that samples come in the order of
the shards, mixed only by shuffling the shard list and by a shuffle buffer. Every sample is
still built by
:meth:`VideoQADataset.sample_from_features <gf.datasets.videoqa.VideoQADataset.sample_from_features>`.

What a user relies on (the same samples as random access, shards split over ranks and
DataLoader workers, the resumed order, ``epoch_length`` and what a worker with too few or too
many samples does): docs/extraction.md, "Training from shards, streaming".

How the order is made: the shard list is permuted *before* it is split (seeded by
``(seed, epoch, pass)``, the same on every rank and worker), because webdataset's own
``shardshuffle`` would only reorder each worker's fixed share; and the shuffle buffer is
seeded by ``(seed, epoch, pass, rank, worker)``. Nothing else is random, so a resumed run
(which calls :meth:`set_epoch` with the epoch it continues with) reads the same order. The
pass number is in the seeds so that a worker's further pass is dealt and mixed anew. Only
shards that hold a question of the split are streamed: the builder leaves out the others
(:meth:`gf.datasets.base.VideoQABuilder._stream`).
"""
from __future__ import annotations

import itertools
import math
import random
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch.utils.data import IterableDataset

from gf.common.errors import ConfigError, DatasetError
from gf.common.sharding import every, reader_position
from gf.common.utils import positive_int

__all__ = ["StreamingVideoQADataset", "worker_share"]


def worker_share(epoch_length: int, batch_size: int, num_workers: int, worker: int) -> int:
    """How many of a rank's ``epoch_length`` samples DataLoader worker ``worker`` yields.

    The rank's ``ceil(epoch_length / batch_size)`` batches are dealt in turn (batch j to worker
    ``j % num_workers``, the order in which the DataLoader collects them); all are full but the
    last. A worker's share is the size of its batches together, so the workers' batches add up
    to exactly ``len(loader)`` and only the epoch's last batch is short.
    """
    batches = math.ceil(epoch_length / batch_size)
    mine = range(worker, batches, num_workers)
    return sum(batch_size if j < batches - 1 else epoch_length - (batches - 1) * batch_size for j in mine)


def _of_dataset(name: str) -> property:
    """A read-only attribute of the wrapped random-access split (``self.dataset``)."""
    return property(lambda self: getattr(self.dataset, name))


class StreamingVideoQADataset(IterableDataset):
    """A training split read as a stream of webdataset shards (see the module docs).

    ``dataset`` is the split's random-access :class:`~gf.datasets.videoqa.VideoQADataset`: it
    provides the records, the checks done at construction, the event table and the sample
    building; it is also what evaluating this split reads (every question exactly once).
    ``ext`` is the shard member holding each key's ``.npy`` array.

    ``epoch_length``: samples per rank per epoch (``None``: not yet set; the runner then refuses
    to train, naming ``epoch_length_key``). The runner sets the seed (:meth:`set_seed`) and the
    batch size (:meth:`set_batch_size`) before training.
    """

    def __init__(self, dataset: Any, shards: Sequence[str], *, epoch_length: Optional[int],
                 shuffle_buffer: int = 1000, shard_shuffle: bool = True, ext: str = "npy",
                 epoch_length_key: str = "stream.epoch_length"):
        super().__init__()
        if not shards:
            raise DatasetError(f"{dataset.benchmark} {dataset.split}: no webdataset shards to stream")
        if epoch_length is not None and not positive_int(epoch_length):
            raise ConfigError(f"{epoch_length_key} must be a positive integer (samples per rank per epoch), "
                              f"got {epoch_length!r}")
        if not isinstance(shuffle_buffer, int) or isinstance(shuffle_buffer, bool) or shuffle_buffer < 0:
            raise ConfigError(f"shuffle_buffer must be an integer >= 0 (0 = off), got {shuffle_buffer!r}")
        self.dataset = dataset
        self.shards = [str(s) for s in shards]
        self.epoch_length = epoch_length
        self.epoch_length_key = epoch_length_key
        self.shuffle_buffer = shuffle_buffer
        self.shard_shuffle = bool(shard_shuffle)
        self.ext = ext.lower().lstrip(".")
        self.seed = int(dataset.seed)
        self.epoch = 0
        self.batch_size = 1
        # feature key -> indices of the split's questions with that key, in record order
        self.indices_by_key: Dict[str, List[int]] = {}
        for i, rec in enumerate(dataset.records):
            self.indices_by_key.setdefault(rec[dataset.key_field], []).append(i)

    # -- what the runner and the evaluation read -----------------------------------------------
    records = _of_dataset("records")
    stats = _of_dataset("stats")
    split = _of_dataset("split")
    benchmark = _of_dataset("benchmark")
    answer_mode = _of_dataset("answer_mode")

    def question_ids(self) -> List[str]:
        return self.dataset.question_ids()

    def video_ids(self) -> Dict[str, str]:
        return self.dataset.video_ids()

    def set_epoch(self, epoch: int) -> None:
        """Seeds the epoch's order (and, through the wrapped dataset, its event sampling); call
        before each epoch's iterator is created, as with a sampler."""
        self.epoch = int(epoch)
        self.dataset.set_epoch(epoch)

    def set_seed(self, seed: int) -> None:
        """The seed of the order (the runner passes ``run.seed``, as it does to its sampler)."""
        self.seed = int(seed)

    def set_batch_size(self, batch_size: int) -> None:
        """The DataLoader's batch size: a rank's batches are dealt whole to its workers."""
        if not positive_int(batch_size):
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size

    def check_epoch_length(self) -> int:
        """``epoch_length``, or a :class:`ConfigError` naming the key when it is not set."""
        if self.epoch_length is None:
            n = len(self.dataset.records)
            raise ConfigError(
                f"{self.epoch_length_key} is not set: a streamed training split needs the number of samples "
                f"per process (rank) per epoch, since ranks and DataLoader workers hold different numbers of "
                f"samples and every rank must take the same number of steps. The split has {n} questions; "
                f"with W processes, ceil({n} / W) reads about each once per epoch (W=1: {n}).")
        return self.epoch_length

    def check_readers(self, world: int, num_workers: int) -> None:
        """A :class:`DatasetError` unless every one of ``world`` processes x ``num_workers``
        DataLoader workers (0 = the process itself) gets a shard: each reads whole shards.
        The runner calls it before training, where every rank reaches the same verdict; the
        iterator checks again, but there a failing rank would leave the others waiting."""
        readers = world * max(1, num_workers)
        if len(self.shards) < readers:
            raise DatasetError(
                f"{self.benchmark} {self.split}: {len(self.shards)} webdataset shard(s) hold its questions, for "
                f"{world} process(es) x {max(1, num_workers)} DataLoader worker(s); each worker reads whole "
                f"shards, so some would have none. Write at least {readers} shards (gf extract --shard-size, or "
                f"write_webdataset_shards(num_shards=...)) or lower run.num_workers.")

    def __len__(self) -> int:
        """Samples per rank per epoch (``len(loader)`` is this over the batch size, rounded up)."""
        return self.check_epoch_length()

    # -- the stream ------------------------------------------------------------------------------
    def _pass_shards(self, pass_no: int) -> List[str]:
        """The whole shard list of one pass, in the order every rank and worker splits."""
        shards = list(self.shards)
        if self.shard_shuffle:
            random.Random(f"gf-shards/{self.seed}/{self.epoch}/{pass_no}").shuffle(shards)
        return shards

    def _decode(self, sample: Dict[str, Any]) -> List[Tuple[int, torch.Tensor]]:
        """One shard sample -> ``(question index, features)`` for each of its questions.

        The features are what the random-access store returns for the key (``to_frames`` of
        the ``.npy`` member: a float32 ``[T, D]`` copy). Each question gets its own tensor,
        copied here, before any is used: building a sample may modify the tensor it is given
        (a store's reads never alias), and the questions of one key leave the shuffle buffer
        at different times.
        """
        from gf.datasets.webdataset_store import wds_sample_to_pair

        key, arr = wds_sample_to_pair(sample, self.ext)
        feats = torch.from_numpy(arr)
        return [(i, feats if n == 0 else feats.clone()) for n, i in enumerate(self.indices_by_key[key])]

    def _pipeline(self, pass_no: int, position: Tuple[int, int, int, int]):
        """One pass of this worker over its shards: the (shuffled) shard list is split by the
        ``(rank, world, worker, num_workers)`` of :func:`reader_position`, the one the share was
        computed from; keys of no question are skipped, keys expanded to questions and these
        shuffled in the buffer."""
        import webdataset as wds

        from gf.datasets.webdataset_store import decode_wds_key

        rank, world, worker, num_workers = position
        wanted = self.indices_by_key
        stream = wds.WebDataset(self._pass_shards(pass_no), shardshuffle=False, nodesplitter=every(rank, world),
                                workersplitter=every(worker, num_workers), empty_check=False)
        stream = stream.select(lambda s: decode_wds_key(s["__key__"]) in wanted)
        stream = stream.map(self._decode).compose(itertools.chain.from_iterable)  # lists of questions -> questions
        if self.shuffle_buffer > 0:
            stream = stream.shuffle(self.shuffle_buffer, seed=f"gf-buffer/{self.seed}/{self.epoch}/{pass_no}/"
                                                               f"{rank}/{worker}")
        return stream

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        epoch_length = self.check_epoch_length()
        position = rank, world, worker, num_workers = reader_position()  # splits the shards too
        share = worker_share(epoch_length, self.batch_size, num_workers, worker)
        if share:
            self.check_readers(world, num_workers)
        done, pass_no = 0, 0
        while done < share:
            before = done
            for index, feats in self._pipeline(pass_no, position):
                yield self.dataset.sample_from_features(index, feats)
                done += 1
                if done == share:
                    return
            if done == before:
                raise DatasetError(
                    f"{self.benchmark} {self.split}: the shards of worker {worker} of rank {rank} hold no "
                    f"question of the split (pass {pass_no} over {len(self.shards)} shards); the shards do not "
                    f"hold this split's features, or too few of them for {world} x {num_workers} readers.")
            pass_no += 1

    def __repr__(self) -> str:
        return (f"StreamingVideoQADataset({self.benchmark} {self.split}: {len(self.dataset.records)} questions, "
                f"{len(self.shards)} shards, epoch_length={self.epoch_length}, shuffle_buffer={self.shuffle_buffer}, "
                f"shard_shuffle={self.shard_shuffle})")
