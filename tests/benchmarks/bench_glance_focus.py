"""Training / evaluation throughput and peak memory of Glance-Focus, and the saving of
glancing once per video (R8 in docs/differences_from_authors.md) against the authors'
glance-per-option.

Not a test (pytest does not collect it). Example:

    python tests/benchmarks/bench_glance_focus.py --model-type star_sup --text-encoder minilm \
        --batch-size 8 --steps 3

The STAR default is roberta-base; it is not available offline here, so pass a local
folder or ``minilm`` (the offline all-MiniLM-L6-v2) as ``--text-encoder``. Peak memory is
the process's peak RSS (CPU) or ``torch.cuda.max_memory_allocated`` (CUDA).
"""
from __future__ import annotations

import argparse
import resource
import time

import torch

from gf.models.glance_focus import GlanceFocus


def peak_mib(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_batch(model, batch_size, frames, device, seed=0):
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    k = cfg.num_options if cfg.answer_mode == "mc" else 1
    words = "the person opened closed took put the door box cup towel sofa book after before".split()
    texts = [" ".join(words[int(i)] for i in torch.randint(len(words), (14,), generator=g)) for _ in range(batch_size * k)]
    return {
        "video": torch.randn(batch_size, frames, cfg.feature_dim, generator=g).to(device),
        "video_mask": torch.ones(batch_size, frames, dtype=torch.bool, device=device),
        "text": texts,
        "answer": torch.randint(0, k if k > 1 else cfg.num_answers, (batch_size,), generator=g).to(device),
        "spans": [torch.tensor([[0.2, 0.1], [0.5, 0.2], [0.8, 0.1]], device=device)] * batch_size,
        "event_classes": [torch.tensor([1, 2, 3], device=device)] * batch_size,
    }


def measure(model, batch, steps, train, device, amp):
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5) if train else None
    model.train(train)
    ctx = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if (amp and device.type == "cuda") else None

    def one():
        if train:
            with (ctx() if ctx else torch.enable_grad()):
                loss = model(batch)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            with torch.no_grad(), (ctx() if ctx else torch.no_grad()):
                model.predict(batch)

    one()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch["video"].shape[0] / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-type", default="star_sup")
    ap.add_argument("--text-encoder", default="minilm")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--frames", type=int, default=None, help="default: the variant's max_feats")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = GlanceFocus.from_config({"model_type": args.model_type, "text_encoder": args.text_encoder}).to(device)
    frames = args.frames or model.config.max_feats
    batch = make_batch(model, args.batch_size, frames, device)
    print(f"model_type={args.model_type} text_encoder={args.text_encoder} device={device} "
          f"threads={torch.get_num_threads()} batch={args.batch_size} frames={frames} "
          f"options={model.config.num_options if model.config.answer_mode == 'mc' else 1} amp={args.amp}")
    print(f"{'glance':<12}{'train q/s':>12}{'eval q/s':>12}{'peak MiB':>12}")
    for per_option in (False, True):
        model.glance_per_option = per_option
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        train_qps = measure(model, batch, args.steps, True, device, args.amp)
        eval_qps = measure(model, batch, args.steps, False, device, args.amp)
        label = "per option" if per_option else "per video"
        print(f"{label:<12}{train_qps:>12.2f}{eval_qps:>12.2f}{peak_mib(device):>12.0f}")


if __name__ == "__main__":
    main()
