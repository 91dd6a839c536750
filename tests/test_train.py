import dataclasses
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from sora_nodes.errors import SoraError
from sora_nodes.families.bundle import load_sora_model
from sora_nodes.families.checkpoint import read_metadata
from sora_nodes.io.video import write_video
from sora_nodes.models.dit import dit_preset
from sora_nodes.models.vae import VAE_PRESETS
from sora_nodes.pipeline.generate import generate
from sora_nodes.pipeline.sampling import SamplingSettings
from sora_nodes.train.buckets import Bucket, nearest_bucket, parse_buckets
from sora_nodes.train.condition_masks import CONDITION_KINDS, condition_mask, random_condition_masks
from sora_nodes.train.dit_trainer import DiTTrainSettings, train_dit
from sora_nodes.train.sources import FolderSource, WorldSource
from sora_nodes.train.vae_trainer import VAETrainSettings, train_vae

BUCKETS = parse_buckets("32x32x5:2,48x32x5:1")
SORA = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "sora"


def test_buckets_parse_and_pick_the_nearest_aspect_without_cropping():
    b = parse_buckets("64x64x17:4, 112x64x17:2,64x112x17")
    assert b == {Bucket(64, 64, 17): 4.0, Bucket(112, 64, 17): 2.0, Bucket(64, 112, 17): 1.0}
    assert nearest_bucket(b, 1920, 1080, 100) == Bucket(112, 64, 17)
    assert nearest_bucket(b, 720, 1280, 40) == Bucket(64, 112, 17)
    assert nearest_bucket(b, 500, 500, 10) is None  # too short for every bucket
    with pytest.raises(SoraError, match="WIDTHxHEIGHTxFRAMES"):
        parse_buckets("64x64")


def test_world_source_batches_one_native_size_in_model_range():
    video, captions = WorldSource(BUCKETS).sample(Bucket(48, 32, 5), 3, random.Random(0))
    assert video.shape == (3, 3, 5, 32, 48) and len(captions) == 3
    assert video.min() >= -1 and video.max() <= 1 and video.std() > 0.1


@pytest.mark.parametrize("kind", CONDITION_KINDS)
def test_every_condition_kind_leaves_something_to_generate(kind):
    for seed in range(20):
        m = condition_mask(kind, 5, 4, 4, random.Random(seed))
        assert m.shape == (1, 5, 4, 4) and not m.all()
        known = m[0].amax(dim=(1, 2))  # per latent frame
        if kind == "none":
            assert not m.any()
        elif kind == "first_frame":
            assert known.tolist() == [1, 0, 0, 0, 0]
        elif kind == "last_frame":
            assert known.tolist() == [0, 0, 0, 0, 1]
        elif kind == "prefix":
            assert known[0] == 1 and known[-1] == 0
        elif kind == "suffix":
            assert known[0] == 0 and known[-1] == 1
        elif kind == "both_ends":
            assert known[0] == 1 and known[-1] == 1 and not known.all()
        else:  # a box: some frames are partly known
            assert m.any()


def test_condition_rate_controls_how_often_a_mask_is_used():
    _, kinds = random_condition_masks(400, 5, 4, 4, random.Random(0), rate=0.3)
    share = sum(k != "none" for k in kinds) / 400
    assert 0.2 < share < 0.4 and set(kinds) == set(CONDITION_KINDS)


@pytest.fixture(scope="module")
def trained_vae(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae")
    settings = VAETrainSettings(steps=3, batch=2, save_every=2, stats_clips=4, warmup=1)
    path = train_vae(out, config=VAE_PRESETS["tiny"], source=WorldSource(BUCKETS), settings=settings, log=print)
    return out, path, settings


def test_vae_training_writes_a_loadable_vae_with_latent_stats_and_a_loss_curve(trained_vae):
    out, path, _ = trained_vae
    assert path.name == "vae.safetensors" and (out / "vae_loss.png").stat().st_size > 5000
    assert (out / "vae_loss.png").read_bytes()[:4] == b"\x89PNG"
    from sora_nodes.families.bundle import load_frozen_vae

    vae = load_frozen_vae(path, "cpu")
    assert not torch.equal(vae.latent_std, torch.ones_like(vae.latent_std))  # measured, not the identity
    assert '"steps_done": 3' in read_metadata(path)["training"]


def test_vae_resume_continues_and_refuses_changed_settings(trained_vae, capsys):
    out, _, settings = trained_vae
    import dataclasses

    more = dataclasses.replace(settings, steps=4)
    train_vae(out, config=VAE_PRESETS["tiny"], source=WorldSource(BUCKETS), settings=more, resume=True, log=print)
    assert "steps 3->4" in capsys.readouterr().out
    state = torch.load(out / "state.pt", weights_only=True)
    assert state["step"] == 4 and len(state["losses"]) == 4
    with pytest.raises(SoraError, match="other settings.*lr"):
        train_vae(
            out,
            config=VAE_PRESETS["tiny"],
            source=WorldSource(BUCKETS),
            settings=dataclasses.replace(more, lr=0.5),
            resume=True,
        )
    with pytest.raises(SoraError, match="no state.pt"):
        train_vae(out / "nothing", config=VAE_PRESETS["tiny"], source=WorldSource(BUCKETS), settings=more, resume=True)


def test_decoder_only_training_keeps_the_latent_space_so_a_dit_stays_valid(trained_vae, tmp_path):
    _, path, settings = trained_vae
    from sora_nodes.families.bundle import load_frozen_vae

    tuned = dataclasses.replace(settings, decoder_only=True, backdrop_texture_weight=1.0)
    new_path = train_vae(tmp_path, config=None, source=WorldSource(BUCKETS), settings=tuned, init_from=path)
    before, after = load_frozen_vae(path, "cpu"), load_frozen_vae(new_path, "cpu")
    for name, value in before.encoder.state_dict().items():
        assert torch.equal(value, after.encoder.state_dict()[name]), name
    assert torch.equal(before.latent_mean, after.latent_mean) and torch.equal(before.latent_std, after.latent_std)
    assert any(not torch.equal(v, after.decoder.state_dict()[k]) for k, v in before.decoder.state_dict().items())
    with pytest.raises(SoraError, match="--init-from"):
        train_vae(tmp_path / "x", config=VAE_PRESETS["tiny"], source=WorldSource(BUCKETS), settings=tuned)


def test_a_decoder_tuned_to_a_dit_learns_from_the_latents_that_dit_samples(trained_vae, tmp_path, capsys):
    """--dit-pairs: the DiT's SDEdit latents of training clips, made once per run and kept, decoded to the
    clips; the latent space stays the DiT's, so the tuned decoder drops into its model."""
    from sora_nodes.families.bundle import load_frozen_vae, use_decoder
    from sora_nodes.train.dit_pairs import PAIRS_FILE, load_pairs

    _, vae_path, settings = trained_vae
    dit_settings = DiTTrainSettings(steps=1, batch=2, dataset_size=2, warmup=1)
    model_path = train_dit(
        tmp_path / "dit", config=dit_preset("tiny"), vae_path=vae_path, source=WorldSource(BUCKETS),
        settings=dit_settings,
    )  # fmt: skip
    tuned = dataclasses.replace(
        settings, steps=2, decoder_only=True, dit_pairs=str(model_path), dit_pair_clips=3, dit_pair_share=1.0
    )
    out = tmp_path / "dec"
    path = train_vae(out, config=None, source=WorldSource(BUCKETS), settings=tuned, init_from=model_path)
    assert "making 3 DiT pairs" in capsys.readouterr().out
    pairs = load_pairs(out / PAIRS_FILE, str(model_path))
    assert sum(len(p.latents) for p in pairs.values()) == 3
    model = load_sora_model(model_path)
    for bucket, p in pairs.items():
        assert p.frames.shape[1:] == (3, bucket.frames, bucket.height, bucket.width) and p.frames.dtype == torch.uint8
        assert p.latents.shape[1:] == (4, *model.latent_shape(bucket.frames, bucket.height, bucket.width))
        assert ((0.2 <= p.denoise) & (p.denoise <= 0.7)).all()
        clips = p.frames.float() / 127.5 - 1
        encoded = model.vae.normalize(model.vae.encode_moments(clips)[0])
        assert not torch.allclose(encoded, p.latents.float(), atol=1e-2)  # the DiT moved them
    before, after = model.vae.decoder.state_dict(), load_frozen_vae(path, "cpu").decoder.state_dict()
    assert any(not torch.equal(v, after[k]) for k, v in before.items())
    use_decoder(model.vae, path)  # the latent space is unchanged: the decoder drops into the model

    train_vae(out, config=None, source=WorldSource(BUCKETS), settings=dataclasses.replace(tuned, steps=3),
              init_from=model_path, resume=True)  # fmt: skip
    assert "making" not in capsys.readouterr().out  # the run's pairs are reused
    with pytest.raises(SoraError, match="add --decoder-only"):
        dataclasses.replace(tuned, decoder_only=False)
    other = train_vae(tmp_path / "other", config=VAE_PRESETS["tiny"], source=WorldSource(BUCKETS),
                      settings=dataclasses.replace(settings, seed=1, steps=1))  # fmt: skip
    with pytest.raises(SoraError, match="another VAE's latents"):
        train_vae(tmp_path / "x", config=None, source=WorldSource(BUCKETS), settings=tuned, init_from=other)


def test_dit_pair_crops_keep_each_latent_cell_over_the_pixels_it_decodes_to():
    from sora_nodes.train.dit_pairs import BucketPairs, sample_pairs

    frames = torch.randint(0, 256, (5, 3, 5, 32, 48), dtype=torch.uint8)
    cells = torch.nn.functional.avg_pool3d(frames.float(), (1, 4, 4))  # [5, 3, 5, 8, 12], a 4x "latent"
    pairs = {Bucket(48, 32, 5): BucketPairs(cells.half(), frames, torch.full((5,), 0.5))}
    for seed in range(5):
        latents, video = sample_pairs(pairs, 3, random.Random(seed), crop=16, candidates=3, spatial_factor=4)
        assert latents.shape == (3, 3, 5, 4, 4) and video.shape == (3, 3, 5, 16, 16)
        pixels = (video + 1) * 127.5
        torch.testing.assert_close(latents, torch.nn.functional.avg_pool3d(pixels, (1, 4, 4)), atol=0.2, rtol=0)
    whole, video = sample_pairs(pairs, 2, random.Random(0), crop=None, candidates=1, spatial_factor=4)
    assert whole.shape == (2, 3, 5, 8, 12) and video.shape == (2, 3, 5, 32, 48)
    with pytest.raises(SoraError, match="multiple of the VAE's 4x"):
        sample_pairs(pairs, 2, random.Random(0), crop=18, candidates=1, spatial_factor=4)


def test_backdrop_texture_loss_sees_a_flattened_checker_and_ignores_objects():
    from sora_nodes.train.vae_trainer import backdrop_texture_l1

    video = torch.zeros(1, 3, 2, 16, 16)
    video[..., ::2, :] += 0.06  # a faint stripe texture on the backdrop
    flat = torch.full_like(video, 0.03)
    assert backdrop_texture_l1(flat, video) > 0.02
    assert backdrop_texture_l1(video, video) == 0
    with_object = video.clone()
    with_object[..., 4:8, 4:8] = 0.9  # an object: far from the frame's mean colour
    blurred_object = with_object.clone()
    blurred_object[..., 4:8, 4:8] = 0.5
    assert backdrop_texture_l1(blurred_object, with_object) == 0


def test_dit_training_writes_a_complete_model_that_renders_and_resumes(trained_vae, tmp_path, capsys):
    _, vae_path, _ = trained_vae
    settings = DiTTrainSettings(
        steps=3, stop_after=2, batch=3, dataset_size=6, save_every=2, warmup=1, condition_rate=0.5
    )
    kw = dict(config=dit_preset("tiny"), vae_path=vae_path, source=WorldSource(BUCKETS), log=print)
    path = train_dit(tmp_path, settings=settings, **kw)
    model = load_sora_model(path)
    assert model.dit.config.latent_channels == model.vae.config.latent_channels == 4
    video = generate(
        model, "a red circle moving left", width=32, height=32, frames=5, settings=SamplingSettings(steps=2, seed=0)
    )
    assert video.shape[0] == 5 and torch.isfinite(video).all()
    assert (tmp_path / "dit_loss.png").is_file() and (tmp_path / "latents.pt").is_file()
    assert '"steps_done": 2' in read_metadata(path)["training"]
    train_dit(tmp_path, settings=DiTTrainSettings(**{**vars(settings), "stop_after": None}), resume=True, **kw)
    assert "steps 2->3" in capsys.readouterr().out
    assert '"steps_done": 3' in read_metadata(path)["training"]


def test_folder_source_buckets_videos_by_aspect_and_needs_captions(tmp_path):
    rng = np.random.default_rng(0)
    write_video(tmp_path / "wide.mp4", rng.random((7, 64, 96, 3), dtype=np.float32), fps=8)
    (tmp_path / "wide.txt").write_text("a wide clip")
    write_video(tmp_path / "square.mp4", rng.random((6, 40, 40, 3), dtype=np.float32), fps=8)
    (tmp_path / "square.txt").write_text("a square clip\n")
    source = FolderSource(tmp_path, BUCKETS)
    assert set(source.buckets) == {Bucket(48, 32, 5), Bucket(32, 32, 5)}
    video, captions = source.sample(Bucket(32, 32, 5), 2, random.Random(0))
    assert video.shape == (2, 3, 5, 32, 32) and captions == ["a square clip"] * 2
    write_video(tmp_path / "orphan.mp4", rng.random((6, 40, 40, 3), dtype=np.float32), fps=8)
    with pytest.raises(SoraError, match="no caption file.*orphan"):
        FolderSource(tmp_path, BUCKETS)
    with pytest.raises(SoraError, match="does not exist"):
        FolderSource(tmp_path / "missing", BUCKETS)


def test_cli_rejects_bad_training_arguments_in_one_line(tmp_path):
    r = subprocess.run(
        [str(SORA), "train", "vae", "--out", str(tmp_path), "--buckets", "64x64"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "WIDTHxHEIGHTxFRAMES" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(
        [str(SORA), "train", "dit", "--out", str(tmp_path), "--vae", str(tmp_path / "no.safetensors")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "no.safetensors" in r.stderr and "Traceback" not in r.stderr


def test_the_difference_loss_prefers_a_sharp_edge_to_a_blurred_one_at_equal_l1():
    from sora_nodes.train.vae_trainer import difference_l1

    video = -torch.ones(1, 3, 5, 64, 64)
    video[..., 20:32, 20:32] = 1.0  # a 12 px square: 3.5 % of the frame
    blurred = torch.nn.functional.avg_pool3d(video, (1, 5, 5), stride=1, padding=(0, 2, 2), count_include_pad=False)
    pixel = (blurred - video).abs().mean()
    offset = video + pixel  # as wrong as the blur by plain L1, but every edge kept
    torch.testing.assert_close((offset - video).abs().mean(), pixel)
    assert difference_l1(video, video) == 0 and difference_l1(offset, video) < 1e-6
    assert difference_l1(blurred, video) > pixel


def test_busiest_crop_holds_the_object_where_random_crops_mostly_miss_it():
    from sora_nodes.train.crops import random_crop

    video = torch.zeros(1, 3, 5, 64, 64)
    video[..., 2:14, 50:62] = 1.0  # one small object near a corner
    hits = {n: 0 for n in (1, 16)}
    for seed in range(40):
        for n in hits:
            crop = random_crop(video, 32, random.Random(seed), candidates=n)
            assert crop.shape == (1, 3, 5, 32, 32)
            hits[n] += bool(crop.amax() > 0)
    assert hits[16] >= 34 and hits[1] <= 14  # about 18 % of random 32 px crops touch the object


def test_label_rate_captions_some_world_clips_with_the_terse_label():
    labels = WorldSource(BUCKETS, label_rate=1.0).sample(Bucket(32, 32, 5), 4, random.Random(0))[1]
    captions = WorldSource(BUCKETS).sample(Bucket(32, 32, 5), 4, random.Random(0))[1]
    assert all("." not in t and len(t.split()) < len(c.split()) for t, c in zip(labels, captions, strict=True))
    from sora_nodes.train.sources import open_source

    with pytest.raises(SoraError, match="--label-rate needs --data world"):
        open_source("/nonexistent", BUCKETS, label_rate=0.5)


def test_a_run_continues_from_a_shipped_model_and_scores_a_learning_curve(trained_vae, tmp_path, capsys):
    """No state.pt (a fresh machine): --init-from continues the model's weights at its recorded step."""
    import json

    _, vae_path, _ = trained_vae
    settings = DiTTrainSettings(
        steps=4, stop_after=2, batch=2, dataset_size=4, save_every=2, warmup=1, eval_every=2, eval_prompts=2
    )
    kw = dict(config=dit_preset("tiny"), vae_path=vae_path, source=WorldSource(BUCKETS), log=print)
    shipped = train_dit(tmp_path / "first", settings=settings, **kw)
    curve = json.loads((tmp_path / "first" / "curve.json").read_text())
    assert [p["step"] for p in curve] == [2] and {"loss", "color", "shape", "motion"} <= set(curve[0])
    assert (tmp_path / "first" / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    first = load_sora_model(shipped).dit.state_dict()
    later = DiTTrainSettings(**{**vars(settings), "stop_after": 3, "eval_every": 0})
    train_dit(tmp_path / "fresh", settings=later, init_from=shipped, **kw)
    out = capsys.readouterr().out
    assert "at step 2" in out and "steps 2->4" in out
    resumed = load_sora_model(tmp_path / "fresh" / "sora.safetensors")
    assert '"steps_done": 3' in read_metadata(tmp_path / "fresh" / "sora.safetensors")["training"]
    assert any(not torch.equal(v, resumed.dit.state_dict()[k]) for k, v in first.items())  # it trained on
    with pytest.raises(SoraError, match="other settings.*lr"):
        train_dit(tmp_path / "other", settings=DiTTrainSettings(**{**vars(later), "lr": 0.1}), init_from=shipped, **kw)


def test_an_arm_warm_starts_from_a_trained_model_with_its_new_modules_at_their_initialisation(trained_vae, tmp_path):
    import dataclasses

    from sora_nodes.models.dit import DiT
    from sora_nodes.train.dit_trainer import warm_start_from
    from sora_nodes.train.run_state import make_ema

    _, vae_path, _ = trained_vae
    settings = DiTTrainSettings(steps=2, batch=2, dataset_size=4, save_every=2, warmup=1)
    trained = train_dit(
        tmp_path, config=dit_preset("tiny"), vae_path=vae_path, source=WorldSource(BUCKETS), settings=settings
    )
    before = load_sora_model(trained).dit
    arm = DiT(dataclasses.replace(before.config, output_refiner=8))
    ema = make_ema(arm, 0.998)
    assert warm_start_from(trained, arm, ema) == ["refiner"]
    after = ema.module.state_dict()
    assert all(torch.equal(v.float(), after[k]) for k, v in before.state_dict().items())
    assert not after["refiner.conv_out.weight"].any()  # so the arm starts as the model it came from
    other = DiT(dataclasses.replace(before.config, hidden_size=2 * before.config.hidden_size))
    with pytest.raises(SoraError, match="does not fit this config"):
        warm_start_from(trained, other, make_ema(other, 0.998))


def test_a_deeper_arm_starts_as_the_trained_model_and_its_new_blocks_then_learn(tmp_path):
    import dataclasses

    from sora_nodes.families.checkpoint import save_checkpoint
    from sora_nodes.models.dit import DiT
    from sora_nodes.train.dit_trainer import warm_start_from
    from sora_nodes.train.run_state import make_ema

    torch.manual_seed(0)
    trained = DiT(dit_preset("tiny")).eval()
    with torch.no_grad():  # as after training: no layer left at its zero initialisation
        for p in trained.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = save_checkpoint(tmp_path / "trained.safetensors", {"dit": trained})
    depth = trained.config.depth
    deeper = DiT(dataclasses.replace(trained.config, depth=depth + 2))
    ema = make_ema(deeper, 0.998)
    assert warm_start_from(path, deeper, ema) == [f"blocks.{depth}", f"blocks.{depth + 1}"]
    x = torch.randn(2, trained.config.latent_channels, 2, 8, 8)
    args = (x, torch.tensor([0.3, 0.8]), torch.randn(2, 4, trained.config.text_dim), torch.ones(2, 4, dtype=torch.bool))
    with torch.no_grad():
        torch.testing.assert_close(deeper.eval()(*args), trained(*args))  # the new blocks pass tokens through
    deeper.train()(*args).square().mean().backward()
    gate = deeper.blocks[depth].adaLN_modulation[-1].weight.grad
    assert gate is not None and gate.abs().sum() > 0  # and learn from the first step
    shallower = DiT(dataclasses.replace(trained.config, depth=depth - 1))
    with pytest.raises(SoraError, match="does not fit this config"):
        warm_start_from(path, shallower, make_ema(shallower, 0.998))


def test_a_config_field_added_since_a_run_was_saved_does_not_stop_it_continuing():
    import json

    from sora_nodes.models.config import config_to_json
    from sora_nodes.train.run_state import changed_settings

    now = {"kind": "dit", "config": config_to_json(dit_preset("shapes4-pos")), "lr": 1e-3, "steps": 24000}
    older = json.loads(now["config"])
    older.pop("output_refiner")  # what a run saved before the field existed recorded
    saved = now | {"config": json.dumps(older), "steps": 12000}
    assert changed_settings(saved, now) == {}  # the new field at its default, and a longer schedule
    assert set(changed_settings(saved | {"lr": 5e-4}, now)) == {"lr"}
    refined = json.loads(now["config"]) | {"output_refiner": 64}
    assert set(changed_settings(saved, now | {"config": json.dumps(refined)})) == {"config"}


def test_salience_weighs_an_object_above_its_textured_backdrop():
    from sora_nodes.train.vae_trainer import salience

    video, _ = WorldSource(BUCKETS).sample(Bucket(32, 32, 5), 1, random.Random(3))
    frames = ((video[0].permute(1, 2, 3, 0) + 1) * 127.5).round().byte().numpy()  # [T, H, W, 3]
    from sora_nodes.evaluate import detect_frame

    inside = torch.from_numpy(detect_frame(frames[0]).object_mask)
    assert inside.any(), "the world clip should hold a visible object"
    s = salience(video)[0, 0, 0]  # [H, W]
    assert s[inside].mean() > 3 * s[~inside].mean()


def test_an_interrupted_run_resumes_with_its_cpu_time_so_far(trained_vae, tmp_path):
    import dataclasses

    from sora_nodes.train.experiment import training_figures

    _, vae_path, _ = trained_vae
    kw = {"config": dit_preset("tiny"), "vae_path": vae_path, "source": WorldSource(BUCKETS)}
    first = DiTTrainSettings(steps=4, stop_after=2, batch=2, dataset_size=4, save_every=2, warmup=1)
    train_dit(tmp_path, settings=first, **kw)
    spent = torch.load(tmp_path / "state.pt", weights_only=True)["cpu_seconds"]
    train_dit(tmp_path, settings=dataclasses.replace(first, stop_after=4), resume=True, **kw)
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["step"] == 4 and state["cpu_seconds"] > spent > 0  # the second process adds to the first
    assert training_figures(tmp_path)["cpu_minutes"] == round(state["cpu_seconds"] / 60, 1)
