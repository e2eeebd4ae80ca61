"""Perception throughput: images/s, video frames/s and persons/s, end to end, random weights.

Images: runs the full pipeline (detector -> pose -> part boxes -> zero-shot CLIP part
states -> validated records) with

- tiny models on CPU (``tiny_cpu``),
- real-size architectures (RT-DETR R50-vd 640 px, ViTPose-B 256x192, CLIP ViT-B/32) with
  random weights on CPU (``full_cpu``),
- the real-size models on CUDA (float16) when a GPU is available (``full_cuda``).

Video (skip with ``--skip-video``): writes a synthetic clip with PyAV in a temporary
directory (``--video-frames`` frames at 25 fps: five light rectangles moving over a plain
background, mpeg4) and times :meth:`perception.Perceiver.iter_video_scenes` over it end to
end (decode -> detector -> pose -> part boxes -> part states -> appearance tracking), with
``--video-persons`` (5) persons kept per frame, then streams the perceived scenes through
the packaged temporal reasoner (``reasoning.TemporalStream`` over
``TemporalReasoner.from_pretrained()``, on CPU). Rows:

- ``video_tiny_cpu``: tiny models on CPU, 320x240 clip;
- ``video_full_cuda``: real-size models on CUDA (float16), 640x480 clip, four times the
  frames; ``{"skipped": reason}`` without CUDA or with ``--skip-full``.

Each row gives ``frames_per_s`` and ``persons_per_s`` of perception (``seconds``; its
``stage_seconds`` as :attr:`~perception.Perceiver.stage_seconds` counts them, and
``other_seconds``: decoding, appearance embeddings, tracking and the video records), the
number of tracks, and ``temporal``: the stream's ``frames_per_s`` over the perceived scenes
(push of every frame and ``close()``), its segments and clip labels, and
``end_to_end_frames_per_s`` (perception and temporal reasoning, one after the other).

``temporal_memory``: the temporal stream alone, fed ``--stream-tracks`` (5) tracks of random
:class:`~ontology.PersonObservation` records (track ids and frame indices set, random part
states) for each of ``--stream-lengths`` (2,000 and 8,000 frames), to show that its memory
does not grow with the video's length. It runs first, before any model is loaded (freed
model memory would hide growth), after a warm-up stream of ``warm_up_frames``. Per length,
from an untraced run: ``rss_growth_mib`` (peak of the resident set, read from
``/proc/self/statm`` after every push, minus the resident set before; ``null`` where there
is no ``/proc``), ``rss_retained_mib`` (after ``close()`` minus before) and
``maxrss_growth_mib`` (growth of :func:`resource.getrusage`'s ``ru_maxrss``, the process's
peak: 0 while the stream stays under an earlier peak), and ``frames_per_s`` (building the
random records included); from a second run under :mod:`tracemalloc`:
``tracemalloc_peak_mib`` (peak of the Python heap, records included, torch's tensor storage
not); from both: ``max_buffered_frames`` (the most frames the stream held at once, bounded
by ``chunk + 2 * context``). Records kept for the whole video would grow with the length
(some 900 bytes a record: about 9 MiB at 2,000 frames x 5 tracks, 35 MiB at 8,000). The
resident-set numbers are noisy: the allocator's transients while a chunk is decoded moved
``rss_growth_mib`` between 10 and 35 MiB from run to run on a shared 2-core machine,
the 8,000-frame run no higher than the 2,000-frame one; ``tracemalloc_peak_mib`` is the
precise one (1.75 MiB at both lengths there).

Every model has random weights: nothing real is recognised, and the temporal reasoner's
segments over perceived scenes are meaningless; only the timings and memory mean anything.
A random detector finds random labels, so the benchmark raises the person logit bias of its
class heads (:func:`force_persons`) and keeps the ``--persons`` (images) or
``--video-persons`` (video) best persons per image or frame: persons/s is measured at a
known load, not at a real scene's. ``--threads 1`` gives stable CPU numbers on a shared
machine. Each row is printed as it finishes; the last line is one JSON object with all.

Usage::

    python benchmarks/perception.py                     # all configurations
    python benchmarks/perception.py --images 4 --skip-full
    python benchmarks/perception.py --skip-video        # images only (as before)
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


def _perceiver(dirs: dict[str, Path], device: str, batch: int, persons: int) -> Any:
    """The benchmark's perceiver: every detection kept (thresholds 0), at most ``persons``."""
    from perception import Perceiver

    return Perceiver.from_pretrained(
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


def run(
    dirs: dict[str, Path], device: str, images: int, persons: int, batch: int, size: tuple[int, int]
) -> dict[str, Any]:
    import torch


    perceiver = _perceiver(dirs, device, batch, persons)
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


VIDEO_FPS = 25


def write_clip(path: Path, frames: int, size: tuple[int, int], fps: int = VIDEO_FPS) -> Path:
    """Write ``frames`` frames of five light rectangles moving over a plain background
    (mpeg4, PyAV) and return ``path``."""
    import av
    from PIL import Image, ImageDraw

    width, height = size
    w, h = width // 8, height // 2
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            img = Image.new("RGB", size, (30, 110, 70))
            draw = ImageDraw.Draw(img)
            for k in range(5):  # five figures, each at its own speed, bouncing off the edges
                span = width - w
                x = (k * span // 5 + (k + 1) * 2 * i) % (2 * span)
                x = x if x <= span else 2 * span - x
                y = (height - h) * k // 4
                draw.rectangle([x, y, x + w, y + h], fill=(250 - 10 * k, 230 - 15 * k, 200 + 10 * k))
            for packet in stream.encode(av.VideoFrame.from_image(img)):  # type: ignore[no-untyped-call]
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def run_video(
    dirs: dict[str, Path], device: str, clip: Path, size: tuple[int, int], persons: int, batch: int
) -> dict[str, Any]:
    """Perceive every frame of ``clip`` (:meth:`Perceiver.iter_video_scenes`), then stream the
    scenes through the packaged temporal reasoner on CPU."""
    import torch

    from reasoning import TemporalReasoner, TemporalStream

    perceiver = _perceiver(dirs, device, batch, persons)
    for _ in perceiver.iter_video_scenes(clip, max_frames=batch):  # warm-up (text embeddings, kernels)
        pass
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    perceiver.reset_timings()
    start = time.perf_counter()
    scenes = list(perceiver.iter_video_scenes(clip))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    frames = len(scenes)
    found = sum(len(s.persons) for s in scenes)
    info = perceiver.video_info[clip.name]

    start = time.perf_counter()
    temporal = TemporalReasoner.from_pretrained()
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    stream = TemporalStream(temporal, clip.name, fps=info.fps)
    segments = []
    for scene in scenes:
        if scene.frame_index is None:
            raise RuntimeError(f"iter_video_scenes gave a scene of {clip.name} without a frame index")
        segments += stream.push(scene.frame_index, scene.persons)
    rest, labels = stream.close()
    segments += rest
    temporal_seconds = time.perf_counter() - start
    stages = {k: round(v, 3) for k, v in perceiver.stage_seconds.items()}
    return {
        "device": device,
        "device_name": torch.cuda.get_device_name(0)
        if device.startswith("cuda")
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "frame_size": list(size),
        "fps": info.fps,
        "frames": frames,
        "persons": found,
        "persons_per_frame": round(found / frames, 3),
        "tracks": len({p.track_id for s in scenes for p in s.persons}),
        "batch_size": batch,
        "seconds": round(seconds, 3),
        "frames_per_s": round(frames / seconds, 3),
        "persons_per_s": round(found / seconds, 3),
        "stage_seconds": stages,
        "other_seconds": round(seconds - sum(perceiver.stage_seconds.values()), 3),
        "temporal": {
            "device": "cpu",
            "design": temporal.config.design,
            "load_seconds": round(load_seconds, 3),
            "seconds": round(temporal_seconds, 3),
            "frames_per_s": round(frames / temporal_seconds, 3),
            "segments": len(segments),
            "clip_labels": len(labels),
        },
        "end_to_end_frames_per_s": round(frames / (seconds + temporal_seconds), 3),
    }


def _rss_bytes() -> int | None:
    """The process's resident set now (Linux ``/proc/self/statm``), ``None`` elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _maxrss_bytes() -> int:
    """The process's peak resident set so far (:func:`resource.getrusage`)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def _stream_random_tracks(temporal: Any, frames: int, tracks: int, seed: int, trace: bool) -> dict[str, Any]:
    """Feed a :class:`reasoning.TemporalStream` ``tracks`` tracks of random records for
    ``frames`` frames; measures the resident set (``trace=False``) or the traced Python heap
    (``trace=True``) while it runs."""
    import gc
    import random
    import tracemalloc

    import ontology
    from reasoning import TemporalStream

    onto = temporal.ontology
    states = onto.part_states.names
    rng = random.Random(seed)
    shown: list[list[str]] = []  # each track shows a random set of 8 part states, new every 100 frames
    stream = TemporalStream(temporal, "long.mp4", fps=float(VIDEO_FPS))
    segments = buffered = 0
    gc.collect()  # what earlier runs left is not counted
    rss_before, maxrss_before = _rss_bytes(), _maxrss_bytes()
    rss_peak = rss_before
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    for f in range(frames):
        if f % 100 == 0:
            shown = [rng.sample(states, 8) for _ in range(tracks)]
        persons = [
            ontology.PersonObservation(
                "long.mp4",
                f"{f}:{t}",
                part_states={s: rng.uniform(0.5, 1.0) for s in shown[t]},
                frame_index=f,
                timestamp=f / VIDEO_FPS,
                track_id=t,
                ontology=onto,
            )
            for t in range(tracks)
        ]
        segments += len(stream.push(f, persons))
        buffered = max(buffered, stream.buffered_frames)  # the stream's frame buffer
        if rss_peak is not None:
            rss_peak = max(rss_peak, _rss_bytes() or 0)
    rest, _ = stream.close()
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {"segments": segments + len(rest), "max_buffered_frames": buffered}
    if trace:
        out["tracemalloc_peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 3)
        tracemalloc.stop()
        return out
    rss_after = _rss_bytes()
    if rss_peak is not None and rss_before is not None and rss_after is not None:
        out["rss_growth_mib"] = round((max(rss_peak, rss_after) - rss_before) / 2**20, 3)
        out["rss_retained_mib"] = round((rss_after - rss_before) / 2**20, 3)
    else:
        out["rss_growth_mib"] = out["rss_retained_mib"] = None
    out["maxrss_growth_mib"] = round((_maxrss_bytes() - maxrss_before) / 2**20, 3)
    out["seconds"] = round(seconds, 3)
    out["frames_per_s"] = round(frames / seconds, 3)
    return out


def temporal_memory(lengths: list[int], tracks: int, seed: int = 0) -> dict[str, Any]:
    """Memory of a :class:`reasoning.TemporalStream` fed ``tracks`` tracks of random records
    for each of ``lengths`` frames (see the module docstring)."""
    from reasoning import TemporalReasoner, TemporalStream

    temporal = TemporalReasoner.from_pretrained()
    probe = TemporalStream(temporal, "long.mp4")
    warm_up = 4 * (probe.chunk + probe.context)  # first-call allocations and allocator growth
    _stream_random_tracks(temporal, warm_up, tracks, seed, trace=False)
    rows = []
    for n in lengths:
        rss = _stream_random_tracks(temporal, n, tracks, seed, trace=False)
        traced = _stream_random_tracks(temporal, n, tracks, seed, trace=True)
        if traced["segments"] != rss["segments"]:
            raise RuntimeError(f"the two runs over {n} frames disagree: {rss} vs {traced}")
        rows.append({"frames": n, "tracks": tracks, "records": n * tracks, **rss, **traced})
        print(json.dumps({"temporal_memory_row": rows[-1]}), flush=True)
    return {
        "chunk": probe.chunk,
        "context": probe.context,
        "warm_up_frames": warm_up,
        "method": "rss_growth_mib: resident set from /proc/self/statm after every push, peak minus "
        "before; rss_retained_mib: after close() minus before; maxrss_growth_mib: growth of "
        "resource.getrusage ru_maxrss (the process peak) over "
        "the run; tracemalloc_peak_mib: tracemalloc peak of the Python heap in a second, traced "
        "run (records included, torch tensor storage not); frames_per_s: untraced run, building "
        "the random records included",
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16, help="images for the tiny run")
    parser.add_argument("--full-images", type=int, default=4, help="images for real-size runs")
    parser.add_argument("--persons", type=int, default=4, help="persons kept per image")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--skip-full", action="store_true", help="tiny models only")
    parser.add_argument(
        "--skip-video", action="store_true", help="images only (no video, no temporal stream)"
    )
    parser.add_argument(
        "--video-frames", type=int, default=64, help="frames of the tiny video run (x4 on CUDA)"
    )
    parser.add_argument("--video-persons", type=int, default=5, help="persons kept per video frame")
    parser.add_argument(
        "--stream-lengths",
        type=int,
        nargs="+",
        default=[2000, 8000],
        help="frames of the temporal stream's memory runs",
    )
    parser.add_argument("--stream-tracks", type=int, default=5, help="tracks in the memory runs")
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
        "note": "all models have random weights: nothing real is recognised, the temporal "
        "segments over perceived frames are meaningless; only timings and memory mean anything",
    }
    if not args.skip_video:  # first, before any model memory is freed and reused
        results["temporal_memory"] = temporal_memory(args.stream_lengths, args.stream_tracks)
    with tempfile.TemporaryDirectory() as tmp:
        tiny = save_random_models(Path(tmp) / "tiny", "tiny")
        force_persons(tiny["detector"])
        results["tiny_cpu"] = run(tiny, "cpu", args.images, args.persons, args.batch, (320, 240))
        print(json.dumps({"tiny_cpu": results["tiny_cpu"]}), flush=True)
        if not args.skip_video:
            clip = write_clip(Path(tmp) / "tiny_clip.mp4", args.video_frames, (320, 240))
            results["video_tiny_cpu"] = run_video(
                tiny, "cpu", clip, (320, 240), args.video_persons, args.batch
            )
            print(json.dumps({"video_tiny_cpu": results["video_tiny_cpu"]}), flush=True)
        if not args.skip_full:
            full = save_random_models(Path(tmp) / "full", "full")
            force_persons(full["detector"])
            results["full_cpu"] = run(full, "cpu", args.full_images, args.persons, args.batch, (640, 480))
            print(json.dumps({"full_cpu": results["full_cpu"]}), flush=True)
            if torch.cuda.is_available():
                results["full_cuda"] = run(
                    full, "cuda", 8 * args.full_images, args.persons, 4 * args.batch, (640, 480)
                )
                print(json.dumps({"full_cuda": results["full_cuda"]}), flush=True)
            else:
                results["full_cuda"] = None
        if not args.skip_video:
            if args.skip_full:
                results["video_full_cuda"] = {"skipped": "--skip-full: the real-size models were not built"}
            elif not torch.cuda.is_available():
                results["video_full_cuda"] = {
                    "skipped": "no CUDA device (torch.cuda.is_available() is False)"
                }
            else:
                clip = write_clip(Path(tmp) / "full_clip.mp4", 4 * args.video_frames, (640, 480))
                results["video_full_cuda"] = run_video(
                    full, "cuda", clip, (640, 480), args.video_persons, 4 * args.batch
                )
            print(json.dumps({"video_full_cuda": results["video_full_cuda"]}), flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
