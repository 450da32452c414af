"""The training / evaluation loop.

One runner for every benchmark: the builder says what the data is (multiple choice or
open-ended, number of options or answers, event classes, feature size), the task says how
a step is computed and scored, the model is whatever the config names. The same command
runs on one process or under ``torchrun`` (DDP): every question is evaluated exactly
once, and only rank 0 logs and writes files.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from gf.common import dist
from gf.common.config import MODEL_META_KEYS, save_config, to_dict
from gf.common.io import atomic_write_json
from gf.common.registry import registry
from gf.runners.checkpointer import load_checkpoint, restore_rng_state, save_checkpoint

logger = logging.getLogger("gf.runner")


class NonFiniteLossError(RuntimeError):
    pass


class ShardedEvalSampler(Sampler):
    """Rank r takes indices r, r+W, r+2W...: every index exactly once over all ranks
    (DistributedSampler pads with repeats, which would count questions twice)."""

    def __init__(self, size: int, rank: int, world: int):
        self.indices = list(range(rank, size, world))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


def _pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("run.device is cuda but no CUDA device is available")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def _to_device(batch: Mapping[str, Any], device: torch.device) -> Dict[str, Any]:
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            out[k] = v.to(device, non_blocking=True)
        elif isinstance(v, list) and v and torch.is_tensor(v[0]):
            out[k] = [t.to(device, non_blocking=True) for t in v]
        else:
            out[k] = v
    return out


def _metric(report: Mapping[str, Any], key: str) -> Optional[float]:
    value = report.get(key)
    if isinstance(value, (int, float)):
        return float(value)
    return None


@registry.register_runner("runner_base")
class Runner:
    def __init__(self, cfg: DictConfig, *, splits: Optional[List[str]] = None):
        self.cfg = cfg
        run = cfg.run
        self.device = _pick_device(run.device)
        self.distributed = dist.init_distributed(self.device)
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.is_main = self.rank == 0
        self.output_dir = Path(run.output_dir)
        self._seed(run.seed)

        (self.dataset_name, dataset_cfg), = list(cfg.datasets.items())[:1]
        builder_cls = registry.get_builder_class(self.dataset_name)
        self.builder = builder_cls(to_dict(dataset_cfg))
        wanted = splits if splits is not None else \
            [run.train_split] + list(run.valid_splits) + list(run.test_splits)
        self.datasets = self.builder.build_datasets(list(dict.fromkeys(wanted)))
        self.info = self.builder.info()
        self.benchmark = self.builder.benchmark

        self.model_cfg = self._model_config()
        model_cls = registry.get_model_class(cfg.model.name)
        self.model = model_cls.from_config(self.model_cfg).to(self.device)
        self.task = registry.get_task_class(run.task)()
        self.ddp_model = self.model
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.ddp_model = DDP(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.optimizer = None
        self.scheduler = None
        self.epoch, self.step, self.best = -1, 0, None
        self._writer = None

    # -- set-up ----------------------------------------------------------------------------
    @staticmethod
    def _seed(seed: int) -> None:
        random.seed(seed)
        torch.manual_seed(seed)
        try:
            import numpy as np

            np.random.seed(seed)
        except ImportError:  # pragma: no cover
            pass

    def _model_config(self) -> Dict[str, Any]:
        """The model config with the sizes that the data dictates filled in from the builder."""
        cfg = {k: v for k, v in to_dict(self.cfg.model).items() if k not in ("name", "checkpoint")}
        info = self.info
        derived = {"feature_dim": info.get("feature_dim"), "max_feats": info.get("max_feats"),
                   "event_pred_dim": info.get("event_pred_dim")}
        if self.builder.answer_mode == "mc":
            derived.update(answer_mode="mc", num_options=info.get("num_options"))
        else:
            derived.update(answer_mode="oe", num_answers=len(info["answer_vocab"]))
        max_events = info.get("max_events")
        num_queries = cfg.get("num_queries")
        if max_events is not None and num_queries is not None and max_events > num_queries:
            raise ValueError(f"datasets.{self.dataset_name}.max_events ({max_events}) exceeds model.num_queries "
                             f"({num_queries}): events beyond the queries could never be matched. Lower "
                             f"max_events or raise num_queries.")
        for key, value in derived.items():
            if value is not None and cfg.get(key) != value:
                logger.info("model.%s set to %s by dataset %s (config had %s)", key, value, self.dataset_name,
                            cfg.get(key))
                cfg[key] = value
        return cfg

    def _loader(self, split: str, train: bool) -> DataLoader:
        from gf.datasets.videoqa import collate_videoqa

        dataset = self.datasets[split]
        run = self.cfg.run
        if train:
            sampler = DistributedSampler(dataset, num_replicas=self.world, rank=self.rank, shuffle=True,
                                         seed=run.seed, drop_last=False)
            batch_size = run.batch_size
        else:
            sampler = ShardedEvalSampler(len(dataset), self.rank, self.world)
            batch_size = run.eval_batch_size
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=run.num_workers,
                          collate_fn=collate_videoqa, persistent_workers=False,
                          pin_memory=self.device.type == "cuda")

    def _build_optimizer(self, steps_per_epoch: int) -> None:
        run = self.cfg.run
        params = [p for p in self.model.parameters() if p.requires_grad]
        if run.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=run.lr, momentum=0.9, weight_decay=run.weight_decay)
        else:
            opt_cls = torch.optim.AdamW if run.optimizer == "adamw" else torch.optim.Adam
            self.optimizer = opt_cls(params, lr=run.lr, weight_decay=run.weight_decay)
        total = steps_per_epoch * run.epochs if run.max_steps is None else min(run.max_steps,
                                                                               steps_per_epoch * run.epochs)
        sched = registry.get_lr_scheduler_class(run.lr_sched)
        self.scheduler = sched(self.optimizer, total_steps=total, warmup_steps=run.warmup_steps,
                               min_lr_ratio=run.min_lr_ratio)

    def _autocast(self):
        amp = self.cfg.run.amp
        if amp == "none" or self.device.type != "cuda":  # fp32 on CPU (bf16 is far slower there)
            return nullcontext()
        return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)

    # -- logging ---------------------------------------------------------------------------------
    def _log(self, record: Dict[str, Any]) -> None:
        if not self.is_main:
            return
        record = {"time": round(time.time(), 3), **record}
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with open(self.output_dir / "log.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
        writer = self._tb()
        if writer is not None:
            prefix = record.get("kind", "train")
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch", "time"):
                    writer.add_scalar(f"{prefix}/{k}", v, record.get("step", self.step))

    def _tb(self):
        if self._writer is None and self.is_main:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(log_dir=str(self.output_dir / "tb"))
            except Exception as e:  # tensorboard missing or broken: logging continues to JSONL
                logger.warning("TensorBoard disabled: %s", e)
                self._writer = False
        return self._writer or None

    # -- checkpoints --------------------------------------------------------------------------------
    def _save(self, name: str) -> None:
        if not self.is_main:
            return
        save_checkpoint(self.output_dir / name, model_state=self.model.state_dict(),
                        config=OmegaConf.to_container(self.cfg, resolve=True), optimizer=self.optimizer,
                        scheduler=self.scheduler, epoch=self.epoch, step=self.step, best_metric=self.best,
                        extra={"benchmark": self.benchmark, "dataset": self.dataset_name,
                               "model_config": self.model_cfg})

    def load_weights(self, path) -> Dict[str, Any]:
        """Model weights from a gf checkpoint, or an authors' ``model_N.tar``."""
        from gf.models.checkpoint import load_state_dict_checked

        try:
            ckpt = load_checkpoint(path)
        except ValueError:
            from gf.models.glance_focus.reference_checkpoint import load_reference_weights

            load_reference_weights(self.model, path)
            return {}
        load_state_dict_checked(self.model, ckpt["model"], source=str(path))
        return ckpt

    def _resume(self) -> None:
        resume = self.cfg.run.resume
        if not resume:
            return
        path = self.output_dir / "checkpoint_last.pth" if resume == "auto" else Path(resume)
        if not path.is_file():
            if resume == "auto":
                logger.info("resume auto: no %s yet, starting from scratch", path)
                return
            raise FileNotFoundError(f"run.resume: checkpoint not found: {path}")
        ckpt = self.load_weights(path)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.epoch, self.step, self.best = ckpt["epoch"], ckpt["step"], ckpt["best_metric"]
        restore_rng_state(ckpt["rng"])
        if self.is_main:
            print(f"[gf] resumed from {path}: epoch {self.epoch + 1} done, step {self.step}", flush=True)

    # -- training ----------------------------------------------------------------------------------
    def train(self) -> Dict[str, Any]:
        run = self.cfg.run
        if self.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.cfg, self.output_dir / "config.yaml")
        loader = self._loader(run.train_split, train=True)
        self._build_optimizer(len(loader))
        self._resume()
        from tqdm.auto import tqdm

        reports: Dict[str, Any] = {}
        max_steps = run.max_steps
        for epoch in range(self.epoch + 1, run.epochs):
            if max_steps is not None and self.step >= max_steps:
                break
            loader.sampler.set_epoch(epoch)
            dataset = self.datasets[run.train_split]
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
            self.ddp_model.train()
            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{run.epochs}", disable=not (run.progress and self.is_main),
                       dynamic_ncols=True, leave=False)
            run_loss, run_correct, run_count, n_batches = 0.0, 0, 0, 0
            for batch in bar:
                batch = _to_device(batch, self.device)
                with self._autocast():
                    res = self.task.train_step(self.ddp_model, batch)
                loss = res["loss"]
                if not torch.isfinite(loss):
                    raise NonFiniteLossError(
                        f"non-finite loss {loss.item()} at epoch {epoch + 1}, step {self.step + 1}, questions "
                        f"{batch['question_id']}; parts {res['losses']}. The last good checkpoint "
                        f"({self.output_dir / 'checkpoint_last.pth'}) is untouched. Lower run.lr or enable run.grad_clip.")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if run.grad_clip and run.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), run.grad_clip)
                self.optimizer.step()
                self.scheduler.step()
                self.step += 1
                n_batches += 1
                run_loss += float(loss.detach())
                run_correct += res["correct"]
                run_count += res["count"]
                bar.set_postfix(loss=f"{run_loss / n_batches:.4f}", acc=f"{100.0 * run_correct / max(1, run_count):.1f}")
                if self.step % run.log_every == 0:
                    self._log({"kind": "train", "epoch": epoch, "step": self.step, "loss": float(loss.detach()),
                               "lr": self.optimizer.param_groups[0]["lr"], **res["losses"]})
                if max_steps is not None and self.step >= max_steps:
                    break
            bar.close()
            self.epoch = epoch
            train_acc = 100.0 * dist.all_reduce_mean(run_correct) / max(1.0, dist.all_reduce_mean(run_count))
            self._log({"kind": "epoch", "epoch": epoch, "step": self.step, "train_loss": run_loss / max(1, n_batches),
                       "train_acc": train_acc})
            for split in run.valid_splits:
                report = self.evaluate_split(split, tag=f"epoch{epoch + 1}")
                reports[split] = report
                value = _metric(report, run.best_metric) if report else None
                if self.is_main and report:
                    self._log({"kind": f"val_{split}", "epoch": epoch, "step": self.step,
                               **{k: v for k, v in report.items() if isinstance(v, (int, float))}})
                if split == run.valid_splits[0] and value is not None and (self.best is None or value > self.best):
                    self.best = value
                    self._save("checkpoint_best.pth")
            self._save("checkpoint_last.pth")
            dist.barrier()
        return reports

    # -- evaluation ---------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_split(self, split: str) -> Dict[str, Dict[str, Any]]:
        from tqdm.auto import tqdm

        loader = self._loader(split, train=False)
        self.model.eval()
        records: Dict[str, Dict[str, Any]] = {}
        bar = tqdm(loader, desc=f"eval {split}", disable=not (self.cfg.run.progress and self.is_main),
                   dynamic_ncols=True, leave=False)
        for batch in bar:
            batch = _to_device(batch, self.device)
            with self._autocast():
                records.update(self.task.valid_step(self.model, batch))
        merged: Dict[str, Dict[str, Any]] = {}
        for part in dist.all_gather_objects(records):
            overlap = merged.keys() & part.keys()
            if overlap:
                raise RuntimeError(f"question ids predicted twice across processes: {sorted(overlap)[:10]}")
            merged.update(part)
        return merged  # completeness is checked by the evaluator against the split's ids

    def evaluate_split(self, split: str, tag: str = "final") -> Optional[Dict[str, Any]]:
        """Predict, score and (on rank 0) save predictions and the report."""
        from gf.evaluation import format_report, save_predictions, save_report

        predictions = self.predict_split(split)
        if not self.is_main:
            return None
        vocab = self.info.get("answer_vocab")
        out = self.output_dir / "eval"
        save_predictions(out / f"{split}_{tag}_predictions.json", self.benchmark, split, predictions,
                         answer_vocab=vocab)
        expected_ids = self.datasets[split].question_ids()
        options = {}
        if self.info.get("all_reasoning_types"):
            options["all_reasoning_types"] = list(self.info["all_reasoning_types"])
        report = self.task.evaluate(self.benchmark, split, predictions, vocab, expected_ids=expected_ids, **options)
        report["tag"] = tag
        save_report(out / f"{split}_{tag}_report.json", report)
        if self.benchmark == "star" and split.startswith("test"):
            from gf.evaluation.star import write_submission

            write_submission(out / f"{split}_{tag}_submission.json", predictions)
        print(f"\n[gf] {self.dataset_name} {split} ({tag})\n{format_report(report)}", flush=True)
        return report

    def test(self) -> Dict[str, Any]:
        """Evaluate the test splits with checkpoint_best (or the final weights if none)."""
        best = self.output_dir / "checkpoint_best.pth"
        tag = "last"
        if best.is_file():
            dist.barrier()
            self.load_weights(best)
            tag = "best"
        return {split: self.evaluate_split(split, tag=tag) for split in self.cfg.run.test_splits}

    def close(self) -> None:
        if self._writer:
            self._writer.close()
        dist.cleanup()
