"""Oracle: our vision-language models equal an independent Python implementation of Hugging Face's forwards
(tests/python/reference/hf_vlm.py, written from transformers' modeling_clip / llava / llava_next / qwen2_vl /
qwen2_5_vl) on tiny checkpoints from `mha2mla make-tiny` (plus two variants from the vlm_forward helper).

Each batch mixes rows with one image, rows with two images and a text-only row, with left and right padding;
the same random pixel tensors go to both sides. Asserted:
  - logits on real tokens within 1e-4 (max |ours - reference| / max |reference|), and the images matter (the
    reference with other pixels differs by far more than the tolerance);
  - Qwen: 3-D positions and rope_deltas equal transformers' get_rope_index exactly, also for prompts mixing
    images of different grids, videos (with and without second_per_grid_ts) and text-only rows;
  - the image mask: the placeholder tokens (Qwen: with vision_start / vision_end);
  - LLaVA-NeXT: each image's packed feature count equals LlavaNextProcessor's token count.
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference.checkpoint import load_checkpoint  # noqa: E402
from reference.hf_image_processors import llava_next_num_image_tokens  # noqa: E402
from reference.hf_vlm import LlavaReference, QwenVlReference, get_rope_index  # noqa: E402

BINARY = os.environ.get("MHA2MLA_BINARY", "build/mha2mla")
HELPERS = os.environ.get("MHA2MLA_TEST_HELPERS", os.path.join(os.getcwd(), "tests", "helpers"))
SCRATCH = os.path.join(os.environ.get("MHA2MLA_TEST_TMP", "/tmp"), "vlm_reference")
TOLERANCE = 1e-4
FAILURES = []


def check(condition, message):
    if not condition:
        print("FAIL: " + message)
        FAILURES.append(message)


def helper(*args):
    subprocess.run([os.path.join(HELPERS, "vlm_forward")] + [str(a) for a in args], check=True)


def text_tokens(generator, n, low=3, high=480):
    return torch.randint(low, high, (n,), generator=generator).tolist()


def pad_rows(rows, pad_id, left_rows=()):
    """Pads rows to one length: rows whose index is in left_rows on the left, the others on the right."""
    length = max(len(r) for r in rows)
    ids, mask = [], []
    for i, row in enumerate(rows):
        padding = length - len(row)
        if i in left_rows:
            ids.append([pad_id] * padding + row)
            mask.append([0] * padding + [1] * len(row))
        else:
            ids.append(row + [pad_id] * padding)
            mask.append([1] * len(row) + [0] * padding)
    return torch.tensor(ids), torch.tensor(mask)


def save_images(folder, name, tensors, extra):
    images = []
    for i, (pixels, fields) in enumerate(zip(tensors, extra)):
        path = os.path.join(folder, "%s_image%d.npy" % (name, i))
        np.save(path, pixels.numpy().astype(np.float32))
        images.append(dict(pixels=path, **fields))
    return images


def run_ours(folder, name, ids, mask, images):
    request = os.path.join(folder, name + ".json")
    with open(request, "w") as f:
        json.dump({"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "images": images}, f)
    out = os.path.join(folder, name + "_out")
    helper("forward", folder, request, out)
    result = {k: np.load(os.path.join(out, k + ".npy")) for k in ("logits", "positions", "image_mask")}
    if os.path.exists(os.path.join(out, "rope_deltas.npy")):
        result["rope_deltas"] = np.load(os.path.join(out, "rope_deltas.npy"))
    return result


def compare_logits(label, got, expected, mask, perturbed):
    valid = mask.numpy().astype(bool)
    scale = np.abs(expected[valid]).max()
    difference = np.abs(got - expected)[valid].max() / scale
    sensitivity = np.abs(perturbed - expected)[valid].max() / scale
    print(f"{label}: max relative difference {difference:.2e}; other pixels change the reference by {sensitivity:.2e}")
    check(difference < TOLERANCE, f"{label}: logits differ from the reference by {difference:.2e} (> {TOLERANCE})")
    check(sensitivity > 100 * TOLERANCE, f"{label}: the images barely matter ({sensitivity:.2e}); the test is blind")


# ---------------------------------------------------------------------------------------------------- LLaVA


def check_llava(folder, label, seed):
    config, tensors = load_checkpoint(folder)
    reference = LlavaReference(config, tensors)
    generator = torch.Generator().manual_seed(seed)
    vision = config["vision_config"]
    size = vision["image_size"]
    next_ = config["model_type"] == "llava_next"
    image = config["image_token_index"]
    pad = config.get("pad_token_id", 0)

    if next_:
        sizes = [(40, 90), (100, 60), (70, 70)]  # wide, tall, square: different tile grids and unpadding
        pixels = [torch.randn(reference.image_size_to_num_patches(s), 3, size, size, generator=generator)
                  for s in sizes]
        counts = [f.shape[0] for f in reference.image_features(pixels, sizes)]
        for s, n in zip(sizes, counts):
            expected = llava_next_num_image_tokens(s[0], s[1], config["image_grid_pinpoints"], size,
                                                   vision["patch_size"])
            check(n == expected, f"{label}: image {s} packs {n} features, the processor counts {expected}")
        extra = [{"image_size": list(s)} for s in sizes]
    else:
        pixels = [torch.randn(3, size, size, generator=generator) for _ in range(3)]
        counts = [f.shape[0] for f in reference.image_features(pixels)]
        extra = [{} for _ in pixels]

    rows = [
        text_tokens(generator, 4) + [image] * counts[0] + text_tokens(generator, 5),
        text_tokens(generator, 2) + [image] * counts[1] + text_tokens(generator, 3) + [image] * counts[2] +
        text_tokens(generator, 2),
        text_tokens(generator, 12),
    ]
    ids, mask = pad_rows(rows, pad, left_rows=(2,))
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    sizes_arg = [e["image_size"] for e in extra] if next_ else None
    expected = reference.forward(ids, mask, positions, pixels, sizes_arg).numpy()
    others = [torch.randn(p.shape, generator=generator) for p in pixels]
    perturbed = reference.forward(ids, mask, positions, others, sizes_arg).numpy()

    ours = run_ours(folder, label, ids, mask, save_images(folder, label, pixels, extra))
    compare_logits(label, ours["logits"], expected, mask, perturbed)
    check(np.array_equal(ours["positions"], positions.numpy()), f"{label}: positions differ from cumsum(mask) - 1")
    check(np.array_equal(ours["image_mask"], (ids == image).long().numpy()),
          f"{label}: the image mask is not the <image> tokens")


# ---------------------------------------------------------------------------------------------------- Qwen-VL


def qwen_image_row(generator, config, grids, text_lengths):
    """Text, then for each grid <|vision_start|> pads <|vision_end|>, then text."""
    merge = config["vision_config"].get("spatial_merge_size", 2)
    row = text_tokens(generator, text_lengths[0], high=480)
    for grid, after in zip(grids, text_lengths[1:]):
        t, h, w = grid
        row += [config["vision_start_token_id"]] + [config["image_token_id"]] * (t * h * w // merge ** 2)
        row += [config["vision_end_token_id"]] + text_tokens(generator, after, high=480)
    return row


def check_qwen(folder, label, seed):
    config, tensors = load_checkpoint(folder)
    reference = QwenVlReference(config, tensors)
    generator = torch.Generator().manual_seed(seed)
    vision = config["vision_config"]
    patch_values = 3 * vision.get("temporal_patch_size", 2) * vision.get("patch_size", 14) ** 2
    # Grids of different shapes: windows cut at the edges (3x5 merge blocks), whole windows (4x4), tall.
    grids = [(1, 6, 10), (1, 8, 8), (1, 10, 4)]
    pixels = [torch.randn(t * h * w, patch_values, generator=generator) for t, h, w in grids]
    rows = [
        qwen_image_row(generator, config, grids[:1], [3, 4]),
        qwen_image_row(generator, config, grids[1:], [2, 3, 2]),
        text_tokens(generator, 9, high=480),
    ]
    ids, mask = pad_rows(rows, config.get("bos_token_id", 0), left_rows=(0,))
    grid_tensor = torch.tensor(grids)
    expected, positions, deltas = reference.forward(ids, mask, pixels, grid_tensor)
    others = [torch.randn(p.shape, generator=generator) for p in pixels]
    perturbed, _, _ = reference.forward(ids, mask, others, grid_tensor)

    ours = run_ours(folder, label, ids, mask, save_images(folder, label, pixels, [{"grid_thw": list(g)} for g in grids]))
    compare_logits(label, ours["logits"], expected.numpy(), mask, perturbed.numpy())
    check(np.array_equal(ours["positions"], positions.numpy()), f"{label}: positions differ from get_rope_index")
    check(np.array_equal(ours["rope_deltas"], deltas.numpy()), f"{label}: rope_deltas differ from get_rope_index")
    routed = [config["image_token_id"], config["video_token_id"], config["vision_start_token_id"],
              config["vision_end_token_id"]]
    check(np.array_equal(ours["image_mask"], np.isin(ids.numpy(), routed).astype(np.int64)),
          f"{label}: the image mask is not image pads + vision_start/end")


def check_rope_index(folder, label, seed):
    """Positions only, on prompts with several images of different grids, videos and padding."""
    config, _ = load_checkpoint(folder)
    generator = torch.Generator().manual_seed(seed)
    merge = config["vision_config"].get("spatial_merge_size", 2)
    vs, ve = config["vision_start_token_id"], config["vision_end_token_id"]

    def item(token, grid):
        t, h, w = grid
        return [vs] + [token] * (t * h * w // merge ** 2) + [ve]

    image_grids = [(1, 4, 6), (1, 8, 2), (1, 2, 2), (1, 6, 6), (1, 4, 4)]
    video_grids = [(3, 4, 4), (2, 2, 6)]
    img, vid = config["image_token_id"], config["video_token_id"]
    rows = [
        text_tokens(generator, 3) + item(img, image_grids[0]) + text_tokens(generator, 2) + item(img, image_grids[1]),
        item(img, image_grids[2]) + item(vid, video_grids[0]) + text_tokens(generator, 5),
        text_tokens(generator, 7),
        text_tokens(generator, 1) + item(img, image_grids[3]) + item(img, image_grids[4]) + text_tokens(generator, 1),
        text_tokens(generator, 2) + item(vid, video_grids[1]) + text_tokens(generator, 3),
    ]
    ids, mask = pad_rows(rows, 0, left_rows=(1, 2))
    for seconds in (None, [1.0, 0.5]):
        expected, deltas = get_rope_index(config, ids, torch.tensor(image_grids), torch.tensor(video_grids),
                                          None if seconds is None else torch.tensor(seconds), mask)
        request = {"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "image_grid_thw": image_grids,
                   "video_grid_thw": video_grids}
        if seconds is not None:
            request["second_per_grid_ts"] = seconds
        path = os.path.join(folder, "rope_request.json")
        with open(path, "w") as f:
            json.dump(request, f)
        out = os.path.join(folder, "rope_out")
        helper("rope-index", folder, path, out)
        got = np.load(os.path.join(out, "positions.npy"))
        got_deltas = np.load(os.path.join(out, "rope_deltas.npy"))
        tag = f"{label} rope index (second_per_grid_ts {seconds})"
        print(f"{tag}: positions {'equal' if np.array_equal(got, expected.numpy()) else 'DIFFER'}")
        check(np.array_equal(got, expected.numpy()), f"{tag}: positions differ from get_rope_index")
        check(np.array_equal(got_deltas, deltas.numpy()), f"{tag}: rope_deltas differ")


def main():
    os.makedirs(SCRATCH, exist_ok=True)
    folders = {}
    for arch, seed in (("llava", 11), ("llava_next", 12), ("qwen2_5_vl", 13)):
        folders[arch] = os.path.join(SCRATCH, arch)
        subprocess.run([BINARY, "make-tiny", "--arch", arch, "--out", folders[arch], "--seed", str(seed)], check=True)
    for variant, seed in (("llava_layers", 14), ("qwen2_vl", 15)):
        folders[variant] = os.path.join(SCRATCH, variant)
        helper("make-variant", variant, folders[variant], seed)

    checks = [(check_llava, "llava", 21), (check_llava, "llava_layers", 22), (check_llava, "llava_next", 23),
              (check_qwen, "qwen2_5_vl", 24), (check_qwen, "qwen2_vl", 25),
              (check_rope_index, "qwen2_5_vl", 26), (check_rope_index, "qwen2_vl", 27)]
    for function, name, seed in checks:
        try:
            function(folders[name], name, seed)
        except subprocess.CalledProcessError as error:  # the helper printed its error; keep checking the others
            check(False, f"{name}: {function.__name__} failed ({error})")
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
