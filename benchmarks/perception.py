"""Perception throughput: images/s and persons/s, end to end, random weights, no download.

Runs the full pipeline (detector -> pose -> part boxes -> zero-shot CLIP part states ->
validated records) with

- tiny models on CPU,
- real-size architectures (RT-DETR R50-vd 640 px, ViTPose-B 256x192, CLIP ViT-B/32) with
  random weights on CPU,
- the real-size models on CUDA (float16) when a GPU is available,

and prints one JSON object as its last line. A random detector finds random labels, so
the benchmark raises the person logit bias of its class heads (:func:`force_persons`) and
keeps the ``--persons`` best persons per image: persons/s is measured at a known load
(``--persons`` persons per image), not at a real scene's. ``--threads 1`` gives stable CPU
numbers on a shared machine.

Usage::

    python benchmarks/perception.py                     # all configurations
    python benchmarks/perception.py --images 4 --skip-full
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _images(n: int, size: tuple[int, int]) -> list[Any]:
    import torch
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    return [
        Image.fromarray((torch.rand(size[1], size[0], 3, generator=g) * 255).to(torch.uint8).numpy(), "RGB")
        for _ in range(n)
    ]


def force_persons(detector_dir: Path, bias: float = 10.0) -> None:
    """Raise the 'person' logit of a random RT-DETR so every query detects a person."""
    from transformers import RTDetrForObjectDetection

    model = RTDetrForObjectDetection.from_pretrained(detector_dir)
    person = model.config.label2id["person"]
    with torch_no_grad():
        for head in [*model.model.decoder.class_embed, model.model.enc_score_head]:
            head.bias[person] += bias
    model.save_pretrained(detector_dir)


def torch_no_grad() -> Any:
    import torch

    return torch.no_grad()


def run(
    dirs: dict[str, Path], device: str, images: int, persons: int, batch: int, size: tuple[int, int]
) -> dict[str, Any]:
    import torch

    from perception import Perceiver

    perceiver = Perceiver.from_pretrained(
        detector=dirs["detector"],
        pose=dirs["pose"],
        clip=dirs["clip"],
        device=device,
        half=True,
        batch_size=batch,
        person_threshold=0.0,
        object_threshold=0.0,
        max_persons=persons,
    )
    imgs = _images(images, size)
    ids = [f"img{i}" for i in range(images)]
    perceiver.infer_images(imgs[:batch], ids[:batch])  # warm-up (text embeddings, kernels)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    perceiver.reset_timings()
    start = time.perf_counter()
    found = 0
    for i in range(0, images, batch):
        for records in perceiver.infer_images(imgs[i : i + batch], ids[i : i + batch]):
            found += len(records)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {
        "device": device,
        "device_name": torch.cuda.get_device_name(0)
        if device.startswith("cuda")
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "image_size": list(size),
        "images": images,
        "persons": found,
        "batch_size": batch,
        "seconds": round(seconds, 3),
        "images_per_s": round(images / seconds, 3),
        "persons_per_s": round(found / seconds, 3),
        "stage_seconds": {k: round(v, 3) for k, v in perceiver.stage_seconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16, help="images for the tiny run")
    parser.add_argument("--full-images", type=int, default=4, help="images for real-size runs")
    parser.add_argument("--persons", type=int, default=4, help="persons kept per image")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--skip-full", action="store_true", help="tiny models only")
    args = parser.parse_args()

    import torch
    import transformers

    from perception._random_models import save_random_models

    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[str, Any] = {
        "benchmark": "perception",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpu_count": os.cpu_count(),
        "cuda_available": torch.cuda.is_available(),
        "pipeline": "RT-DETR -> ViTPose -> part boxes -> zero-shot CLIP (random weights)",
    }
    with tempfile.TemporaryDirectory() as tmp:
        tiny = save_random_models(Path(tmp) / "tiny", "tiny")
        force_persons(tiny["detector"])
        results["tiny_cpu"] = run(tiny, "cpu", args.images, args.persons, args.batch, (320, 240))
        print(json.dumps({"tiny_cpu": results["tiny_cpu"]}), flush=True)
        if not args.skip_full:
            full = save_random_models(Path(tmp) / "full", "full")
            force_persons(full["detector"])
            results["full_cpu"] = run(full, "cpu", args.full_images, args.persons, args.batch, (640, 480))
            print(json.dumps({"full_cpu": results["full_cpu"]}), flush=True)
            if torch.cuda.is_available():
                results["full_cuda"] = run(
                    full, "cuda", 8 * args.full_images, args.persons, 4 * args.batch, (640, 480)
                )
            else:
                results["full_cuda"] = None
    print(json.dumps(results))


if __name__ == "__main__":
    main()
