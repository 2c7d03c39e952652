"""The training loop and the validation pass of ``spectrocodec finetune``.

One step: a batch of random segments (codec-degraded features → original audio); the
discriminators take one AdamW step on the least-squares GAN loss, then the generator one on
adversarial + 2 × feature matching + 45 × mel L1; both learning rates decay exponentially.
Every ``checkpoint_every`` steps (and at the last) the run is checkpointed and exported; every
``validate_every`` steps (and at the last) the held-out files are decoded and scored.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from ...core.errors import InputError
from ..args import number_list
from ..progress import Progress
from .recipe import Recipe, load_recipe, save_recipe

VAL_COLUMNS = ("step", "file", "pesq_wb", "mel_db")


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    """CLI arguments → Recipe, checked (InputError, one line, for anything out of range)."""
    quality = _range(args.quality, "quality", 0, 100)
    bitrate = None
    if args.bitrate is not None:
        from ...core.ratecontrol import MAX_KBPS, MIN_KBPS

        if args.quality != QUALITY_DEFAULT:
            raise InputError("--bitrate and --quality are exclusive: give a range of one of them")
        bitrate = _range(args.bitrate, "bitrate", MIN_KBPS, MAX_KBPS)
    try:
        generator = json.loads(args.generator) if args.generator else {}
    except ValueError:
        generator = None
    if not isinstance(generator, dict):
        raise InputError(f"--generator takes a JSON object of SpeechT5HifiGanConfig fields, not '{args.generator}'")
    recipe = Recipe(steps=args.steps, batch_size=args.batch_size, segment_frames=args.segment_frames,
                    device=args.device, init=args.init, generator=generator, disc_scale=args.disc_scale,
                    codec=args.codec, quality=quality, bitrate=bitrate, bits=args.bits,
                    variants=args.variants, lr=args.lr, checkpoint_every=args.checkpoint_every,
                    validate_every=args.validate_every, val_files=args.val_files, workers=args.workers,
                    seed=args.seed)
    check(recipe)
    return recipe


QUALITY_DEFAULT = "30,70"


def _range(text: str, what: str, low: float, high: float) -> tuple[float, float]:
    """"LO,HI" (or one value) → (lo, hi), checked against [low, high]; InputError, one line."""
    values = number_list(text, what)
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or not low <= values[0] <= values[1] <= high:
        raise InputError(f"--{what} takes LO,HI with {low:g} <= LO <= HI <= {high:g}, not '{text}'")
    return values[0], values[1]


def check(recipe: Recipe) -> None:
    positive = {"--steps": recipe.steps, "--batch-size": recipe.batch_size, "--segment-frames": recipe.segment_frames,
                "--variants": recipe.variants, "--checkpoint-every": recipe.checkpoint_every,
                "--validate-every": recipe.validate_every}
    for flag, value in positive.items():
        if value < 1:
            raise InputError(f"{flag} takes a whole number >= 1, not {value}")
    if not 0 < recipe.disc_scale <= 4:
        raise InputError(f"--disc-scale takes a number in (0, 4], not {recipe.disc_scale}")
    if not 0 < recipe.lr < 1:
        raise InputError(f"--lr takes a learning rate in (0, 1), not {recipe.lr}")
    if recipe.device not in ("auto", "cpu", "cuda"):
        raise InputError(f"--device takes auto, cpu or cuda, not {recipe.device}")


def run_cli(args: argparse.Namespace) -> int:
    recipe = recipe_from_args(args)
    train(args.data, Path(args.out), recipe, quiet=args.quiet, cache=Path(args.cache) if args.cache else None)
    return 0


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: torch sees no CUDA GPU here; use --device cpu or auto")
    return name


def train(inputs: list[str], run_dir: Path, recipe: Recipe, quiet: bool = False, cache: Path | None = None) -> dict:
    """Train (or resume) the run in ``run_dir`` up to ``recipe.steps``. Returns a summary dict:
    step, the last losses, the last validation means, where the export is."""
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise InputError(f"finetune needs the training extra ({exc}); pip install 'spectrocodec[train]'") from None
    from . import data, models
    from .losses import MelLoss
    from .state import load_checkpoint, open_metrics

    say = (lambda line: None) if quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    check(recipe)
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"--out {run_dir} is a file; give a folder for the run")
    checkpoint_path = run_dir / "checkpoint.pt"
    device = resolve_device(recipe.device)
    if not checkpoint_path.is_file():
        models.check_init(recipe.init)
    files = data.find_files(inputs)
    run_dir.mkdir(parents=True, exist_ok=True)
    stored = load_recipe(run_dir)
    if stored is not None and checkpoint_path.is_file():
        if recipe.init is not None and recipe.init != stored.init:
            say(f"spectrocodec: note: {run_dir} already has a checkpoint: resuming it; --init {recipe.init} is ignored")
        recipe = dataclasses.replace(stored, steps=recipe.steps, device=recipe.device, workers=recipe.workers,
                                     amp=recipe.amp)
    save_recipe(run_dir, recipe)

    train_files, val_files = data.split(files, recipe.val_files, recipe.seed)
    cache = cache or run_dir / "cache"
    bar = Progress(len(files), label="codec round trips", unit="files", quiet=quiet)
    kind, span = recipe.rate_range
    items = data.prepare(train_files, cache, recipe.codec, span, recipe.bits, recipe.variants,
                         recipe.seed, recipe.workers, bar.advance, kind)
    middle = (sum(span) / 2,) * 2
    val_items = data.prepare(val_files, cache, recipe.codec, middle, recipe.bits, 1, recipe.seed,
                             recipe.workers, bar.advance, kind)
    bar.close(f"data: {len(items)} training file(s), {sum(i.frames for i in items) * data.HOP / data.RATE:.1f} s; "
              f"{len(val_items)} held out" + ("" if val_items else " (no validation: give more than one file)"))

    torch.manual_seed(recipe.seed)
    state = load_checkpoint(checkpoint_path, device)
    if state is not None:
        generator = models.generator_from_config(state["config"])
        origin = f"checkpoint at step {state['step']}"
    else:
        generator, origin = models.make_generator(recipe.init, recipe.generator, say)
    mpd = models.MultiPeriodDiscriminator(recipe.disc_scale)
    msd = models.MultiScaleDiscriminator(recipe.disc_scale)
    for net in (generator, mpd, msd):
        net.to(device).train()
    mel_loss = MelLoss().to(device)
    # fused: one kernel over all parameters; on the CPU 4.5x faster than the per-tensor loop (0.06 vs
    # 0.25 s a step for the 83 M parameters of the default generator and discriminators)
    opt_g = torch.optim.AdamW(generator.parameters(), recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay, fused=True)
    opt_d = torch.optim.AdamW(list(mpd.parameters()) + list(msd.parameters()), recipe.lr, betas=recipe.betas,
                              weight_decay=recipe.weight_decay, fused=True)
    gamma = recipe.lr_decay ** (1.0 / recipe.decay_steps)
    sched_g = torch.optim.lr_scheduler.ExponentialLR(opt_g, gamma)
    sched_d = torch.optim.lr_scheduler.ExponentialLR(opt_d, gamma)
    amp_dtype = None
    if device.startswith("cuda") and recipe.amp:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    sampler = data.Sampler(items, recipe.segment_frames, recipe.seed)
    step = 0
    if state is not None:
        generator.load_state_dict(state["generator"])
        mpd.load_state_dict(state["mpd"])
        msd.load_state_dict(state["msd"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        sched_g.load_state_dict(state["sched_g"])
        sched_d.load_state_dict(state["sched_d"])
        scaler.load_state_dict(state["scaler"])
        sampler.restore(state["sampler"])
        step = int(state["step"])
    say(f"finetune: generator {models.parameter_count(generator) / 1e6:.2f} M parameters ({origin}), "
        f"discriminators {(models.parameter_count(mpd) + models.parameter_count(msd)) / 1e6:.2f} M; "
        f"{device}{' with ' + str(amp_dtype).split('.')[-1] + ' mixed precision' if amp_dtype else ''}")

    def save() -> None:
        from .state import save_checkpoint

        save_checkpoint(checkpoint_path, {
            "step": step, "config": generator.config.to_dict(), "generator": generator.state_dict(),
            "mpd": mpd.state_dict(), "msd": msd.state_dict(), "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(), "sched_g": sched_g.state_dict(), "sched_d": sched_d.state_dict(),
            "scaler": scaler.state_dict(), "sampler": sampler.state()})
        models.export(generator, run_dir / "vocoder")

    handle, writer = open_metrics(run_dir / "metrics.csv", step)
    val_handle, val_writer = open_metrics(run_dir / "validation.csv", step, VAL_COLUMNS)
    summary: dict = {"step": step, "vocoder": str(run_dir / "vocoder")}
    try:
        if step >= recipe.steps:
            say(f"finetune: {run_dir} is already at step {step} (>= --steps {recipe.steps}); nothing to train")
            if not (run_dir / "vocoder" / "config.json").is_file():
                models.export(generator, run_dir / "vocoder")
            return summary
        bar = Progress(recipe.steps - step, label=f"finetune {step}/{recipe.steps}", unit="steps", quiet=quiet)
        context = (lambda: torch.autocast("cuda", dtype=amp_dtype)) if amp_dtype else _nothing
        while step < recipe.steps:
            began = time.perf_counter()
            feats, audio = sampler.batch(recipe.batch_size)
            x = torch.from_numpy(feats).to(device, non_blocking=True)
            y = torch.from_numpy(audio).to(device, non_blocking=True)
            losses = _step(x, y, generator, mpd, msd, mel_loss, opt_g, opt_d, scaler, context, recipe)
            sched_g.step()
            sched_d.step()
            step += 1
            row = {"step": step, **{k: f"{v:.6g}" for k, v in losses.items()},
                   "lr": f"{sched_g.get_last_lr()[0]:.6g}", "seconds": f"{time.perf_counter() - began:.3f}"}
            writer.writerow(row)
            handle.flush()
            summary.update(step=step, **losses)
            bar.advance()
            if step % recipe.checkpoint_every == 0 or step == recipe.steps:
                save()
            if val_items and (step % recipe.validate_every == 0 or step == recipe.steps):
                scores = validate(generator, val_items, step, run_dir, recipe, device)
                for score in scores:
                    val_writer.writerow({"step": step, **score})
                val_handle.flush()
                means = _means(scores)
                summary.update(means)
                bar.write(f"validation at step {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
        bar.close(f"finetune: step {step}: loss_mel {summary['loss_mel']:.3f}, loss_gen {summary['loss_gen']:.3f}, "
                  f"loss_disc {summary['loss_disc']:.3f}; vocoder in {run_dir / 'vocoder'} "
                  f"(decode --vocoder hifigan --vocoder-weights {run_dir / 'vocoder'})")
    finally:
        handle.close()
        val_handle.close()
    return summary


class _nothing:
    """A do-nothing context manager factory (no mixed precision)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _step(x, y, generator, mpd, msd, mel_loss, opt_g, opt_d, scaler, context, recipe) -> dict:
    """One discriminator step and one generator step on features x (B, F, 80) → audio y (B, F * 256)."""
    import torch

    from .losses import adversarial_loss, discriminator_loss, feature_loss

    with context():
        fake = generator(x)
        real_p, _ = mpd(y)
        fake_p, _ = mpd(fake.detach())
        real_s, _ = msd(y)
        fake_s, _ = msd(fake.detach())
        loss_d = discriminator_loss(real_p, fake_p) + discriminator_loss(real_s, fake_s)
    opt_d.zero_grad(set_to_none=True)
    scaler.scale(loss_d).backward()
    scaler.step(opt_d)

    loss_mel = mel_loss(fake, y)
    with context():
        with torch.no_grad():
            _, real_pf = mpd(y)
            _, real_sf = msd(y)
        fake_p, fake_pf = mpd(fake)
        fake_s, fake_sf = msd(fake)
        loss_adv = adversarial_loss(fake_p) + adversarial_loss(fake_s)
        loss_fm = feature_loss(real_pf, fake_pf) + feature_loss(real_sf, fake_sf)
    loss_g = loss_adv + recipe.lambda_fm * loss_fm + recipe.lambda_mel * loss_mel
    opt_g.zero_grad(set_to_none=True)
    scaler.scale(loss_g).backward()
    scaler.step(opt_g)
    scaler.update()
    values = {"loss_gen": loss_g, "loss_disc": loss_d, "loss_mel": loss_mel, "loss_adv": loss_adv, "loss_fm": loss_fm}
    return {k: float(v.detach()) for k, v in values.items()}


def validate(generator, items, step: int, run_dir: Path, recipe: Recipe, device: str) -> list[dict]:
    """Decode the first ``val_seconds`` of each held-out file (features of its middle-quality codec
    round trip); score PESQ-WB and the mel distortion (dB) of the output re-analysed; write the
    first ``examples`` outputs to samples/. Returns [{file, pesq_wb, mel_db}]."""
    import torch

    from spectrocodec_plugins.speecht5 import log_mel

    from ...core.audio import write_wav
    from ..metrics import mel_distortion_db, pesq_wb
    from .data import HOP, RATE

    frames_max = max(1, int(recipe.val_seconds * RATE / HOP))
    scores = []
    generator.eval()
    try:
        with torch.no_grad():
            for index, item in enumerate(items):
                frames = min(item.frames, frames_max)
                feats = torch.from_numpy(np.asarray(item.features[0, :frames], np.float32)).to(device)
                wave = generator(feats[None]).float()[0].cpu().numpy()
                ref = np.asarray(item.audio[: frames * HOP], np.float32)
                pesq = pesq_wb(ref, wave)
                scores.append({"file": item.name, "pesq_wb": "" if pesq is None else round(pesq, 4),
                               "mel_db": round(mel_distortion_db(log_mel(ref), log_mel(wave)), 4)})
                if index < recipe.examples:
                    (run_dir / "samples").mkdir(exist_ok=True)
                    write_wav(run_dir / "samples" / f"step{step:07d}_{Path(item.name).stem}.wav", wave, RATE, force=True)
    finally:
        generator.train()
    return scores


def _means(scores: list[dict]) -> dict:
    out = {}
    for key in ("pesq_wb", "mel_db"):
        values = [float(s[key]) for s in scores if s[key] != ""]
        if values:
            out[key] = float(np.mean(values))
    return out
