"""Oracle test for data/image: mha2mla's decoding, PIL-exact resampling and the CLIP / LLaVA-1.5 pad /
LLaVA-NeXT anyres / Qwen2-VL processors against PIL + a numpy reference of the transformers processors
(tests/python/reference/hf_image_processors.py), on JPEG and PNG files of odd sizes and every colour type.
Also checks that corrupt, truncated and non-image files fail with a message naming the file and the problem.
"""

import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zlib

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import hf_image_processors as hf  # noqa: E402

FAILURES = []
# PIL warns that palette transparency given as bytes is dropped by convert("RGB"): that is the behaviour tested.
warnings.filterwarnings("ignore", category=UserWarning)


def check(condition, message):
    if not condition:
        FAILURES.append(message)
        print("FAIL:", message)


def find_dump_tool():
    helpers = os.environ.get("MHA2MLA_TEST_HELPERS", os.path.join(os.getcwd(), "tests", "helpers"))
    tool = os.path.join(helpers, "preprocess_dump")
    if not os.path.exists(tool):
        sys.exit(f"preprocess_dump not found at {tool}; build it (ninja -C build preprocess_dump)")
    return tool


# ---- test images -----------------------------------------------------------------------------------------

def natural_rgb(width, height, seed):
    """Smooth gradients, edges and some noise: exercises both the resampling kernel and the JPEG codec."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 127 + 120 * np.sin(x / max(width, 1) * 6.3 + seed)
    g = 127 + 120 * np.cos(y / max(height, 1) * 4.1)
    b = np.where((x // 7 + y // 5) % 2 == 0, 220.0, 30.0)
    image = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(width, height, bit_depth, color_type, rows, palette=None, transparency=None, interlaced=False):
    """A PNG written by hand, for layouts PIL cannot save (16-bit RGB, 2-bit gray, short palettes, Adam7).
    `rows` are the scanlines without filter bytes (for Adam7: the passes' scanlines, in order)."""
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth,
                                                                  color_type, 0, 0, int(interlaced)))
    if palette is not None:
        data += png_chunk(b"PLTE", palette)
    if transparency is not None:
        data += png_chunk(b"tRNS", transparency)
    data += png_chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + row for row in rows)))
    return data + png_chunk(b"IEND", b"")


def make_images(folder):
    images = {}

    def save(name, image, **options):
        path = os.path.join(folder, name)
        image.save(path, **options)
        images[name] = path

    def write(name, data):
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        images[name] = path

    for width, height in [(640, 480), (37, 511), (479, 321), (300, 1200), (17, 13), (336, 336), (1100, 1030)]:
        save(f"rgb_{width}x{height}.jpg", Image.fromarray(natural_rgb(width, height, width)), quality=90)
    save("rgb_444_255x190.jpg", Image.fromarray(natural_rgb(255, 190, 3)), quality=95, subsampling=0)
    save("rgb_422_201x143.jpg", Image.fromarray(natural_rgb(201, 143, 4)), quality=85, subsampling=1)
    save("progressive_333x222.jpg", Image.fromarray(natural_rgb(333, 222, 5)), quality=80, progressive=True)
    save("gray_123x77.jpg", Image.fromarray(natural_rgb(123, 77, 6)[..., 1]), quality=90)
    save("cmyk_64x48.jpg", Image.fromarray(natural_rgb(64, 48, 7)).convert("CMYK"), quality=90)
    # "No EXIF transpose": an orientation tag that PIL (and so HF) ignores.
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif_rotated_90x60.jpg", Image.fromarray(natural_rgb(90, 60, 8)), quality=90, exif=exif.tobytes())

    save("rgb_479x321.png", Image.fromarray(natural_rgb(479, 321, 9)))
    rgba = np.dstack([natural_rgb(200, 133, 10), np.random.default_rng(1).integers(0, 256, (133, 200), np.uint8)])
    save("rgba_200x133.png", Image.fromarray(rgba, "RGBA"))
    save("gray_alpha_50x70.png", Image.fromarray(rgba[:70, :50, 1:3].copy(), "LA"))
    save("gray_300x1200.png", Image.fromarray(natural_rgb(300, 1200, 11)[..., 0]))
    save("bilevel_41x29.png", Image.fromarray(natural_rgb(41, 29, 12)[..., 2] > 128))
    palette_image = Image.fromarray(natural_rgb(90, 60, 13)).quantize(colors=37)
    save("palette_90x60.png", palette_image)
    save("palette_trns_90x60.png", palette_image, transparency=5)
    save("gray16_40x30.png", Image.fromarray(np.random.default_rng(2).integers(0, 600, (30, 40)).astype(np.uint16)))
    save("one_pixel_1x1.png", Image.fromarray(np.array([[[200, 30, 90]]], np.uint8)))
    rgb16 = np.random.default_rng(3).integers(0, 65536, (21, 33, 3)).astype(">u2")
    write("rgb16_33x21.png", raw_png(33, 21, 16, 2, [row.tobytes() for row in rgb16]))
    write("gray2_20x3.png", raw_png(20, 3, 2, 0, [bytes([0b00011011] * 5)] * 3))
    write("palette_short_4x1.png", raw_png(4, 1, 8, 3, [bytes([0, 1, 2, 200])], palette=bytes([10, 20, 30, 40, 50, 60])))
    write("palette4_trns_9x2.png", raw_png(9, 2, 4, 3, [bytes([0x01, 0x23, 0x45, 0x67, 0x80])] * 2,
                                           palette=bytes(range(0, 24)), transparency=bytes([0, 128])))
    # Adam7: seven passes over sub-grids of pixels (x0, y0, dx, dy), each stored as its own scanlines.
    adam7 = natural_rgb(23, 19, 14)
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    scanlines = [row.tobytes() for x0, y0, dx, dy in passes for row in adam7[y0::dy, x0::dx] if row.size]
    write("interlaced_23x19.png", raw_png(23, 19, 8, 2, scanlines, interlaced=True))
    return images


def make_broken_files(folder, images):
    broken = {}

    def write(name, data):
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        broken[name] = path

    jpeg = open(images["rgb_640x480.jpg"], "rb").read()
    png = open(images["rgb_479x321.png"], "rb").read()
    write("truncated.jpg", jpeg[:len(jpeg) // 2])
    write("truncated.png", png[:len(png) // 2])
    write("header_only.png", png[:20])
    corrupt = bytearray(png)
    corrupt[200:260] = b"\xAB" * 60  # inside the compressed IDAT: zlib / CRC failure
    write("corrupt.png", bytes(corrupt))
    write("corrupt_header.jpg", b"\xFF\xD8\xFF\xE0" + b"\x00\x10garbage-garbage" + b"\x00" * 64)
    gif = io.BytesIO()
    Image.fromarray(natural_rgb(10, 10, 1)).save(gif, "GIF")
    write("really_a_gif.jpg", gif.getvalue())
    write("text.png", b"this is not an image\n")
    write("empty.jpg", b"")
    return broken


# ---- running mha2mla -------------------------------------------------------------------------------------

def run_jobs(tool, jobs, folder):
    job_file = os.path.join(folder, "jobs.txt")
    with open(job_file, "w") as f:
        f.write("\n".join(" ".join(job) for job in jobs) + "\n")
    start = time.time()
    result = subprocess.run([tool, "--jobs", job_file], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"preprocess_dump --jobs failed ({result.returncode}): {result.stderr}")
    return time.time() - start


def load_output(path):
    if os.path.exists(path + ".err"):
        return None, open(path + ".err").read()
    scalars = {}
    if os.path.exists(path + ".txt"):
        for line in open(path + ".txt"):
            key, *values = line.split()
            scalars[key] = tuple(int(v) for v in values)
    return np.load(path), scalars


def max_difference(ours, reference):
    return float(np.max(np.abs(ours.astype(np.float64) - reference.astype(np.float64)))) if ours.size else 0.0


def main():
    tool = find_dump_tool()
    root = os.environ.get("MHA2MLA_TEST_TMP", tempfile.gettempdir())
    os.makedirs(root, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="image_preprocessing_", dir=root)
    images = make_images(folder)
    broken = make_broken_files(folder, images)

    jobs, expectations = [], []

    def job(kind, image, reference, *options, exact=True):
        out = os.path.join(folder, f"{kind}_{len(jobs)}_{image}.npy")
        jobs.append([kind, images[image], out, *options])
        expectations.append((kind, image, out, reference, exact))

    for name, path in images.items():
        rgb = hf.load_rgb(path)
        height, width = rgb.shape[:2]
        job("decode", name, lambda rgb=rgb: (rgb, {}))
        job("clip", name, lambda rgb=rgb: (hf.clip_preprocess(rgb), {}))
        job("clip", name, lambda rgb=rgb: (hf.clip_preprocess(rgb, pad=True), {}), "pad=1")
        job("llava_next", name, lambda rgb=rgb: llava_next_reference(rgb))
        job("qwen2_vl", name, lambda rgb=rgb: qwen_reference(rgb))
        if name.endswith((".jpg", ".png")) and width * height > 100000:
            # the max_pixels branch of smart_resize, and a small budget
            job("qwen2_vl", name, lambda rgb=rgb: qwen_reference(rgb, max_pixels=200704), "max_pixels=200704")
    # Resampling alone, both filters, down and up, odd factors.
    for name, (width, height) in [("rgb_640x480.jpg", (448, 336)), ("rgb_640x480.jpg", (211, 97)),
                                  ("rgb_37x511.jpg", (336, 4644)), ("rgb_17x13.jpg", (801, 5)),
                                  ("rgb_479x321.png", (479, 100)), ("rgb_479x321.png", (100, 321)),
                                  ("rgba_200x133.png", (1001, 333))]:
        for flt, pil_filter in [("bicubic", Image.BICUBIC), ("bilinear", Image.BILINEAR)]:
            rgb = hf.load_rgb(images[name])
            job("resize", name, lambda rgb=rgb, w=width, h=height, f=pil_filter: (hf.pil_resize(rgb, h, w, f), {}),
                f"width={width}", f"height={height}", f"filter={flt}")

    seconds = run_jobs(tool, jobs, folder)
    print(f"mha2mla ran {len(jobs)} jobs on {len(images)} images in {seconds:.2f}s")

    worst = {}
    for kind, image, out, reference, exact in expectations:
        ours, scalars = load_output(out)
        if ours is None:
            check(False, f"{kind} {image}: mha2mla failed: {scalars}")
            continue
        expected, expected_scalars = reference()
        check(ours.shape == expected.shape, f"{kind} {image}: shape {ours.shape} != reference {expected.shape}")
        if ours.shape != expected.shape:
            continue
        difference = max_difference(ours, expected)
        worst[kind] = max(worst.get(kind, 0.0), difference)
        # uint8 outputs must be identical; float outputs identical to float32 rounding of the same arithmetic.
        check(difference == 0.0, f"{kind} {image} {os.path.basename(out)}: max |ours - reference| = {difference}")
        for key, value in expected_scalars.items():
            check(scalars.get(key) == value, f"{kind} {image}: {key} {scalars.get(key)} != reference {value}")
    for kind, difference in sorted(worst.items()):
        print(f"  {kind:10s} max |ours - reference| = {difference:.3g} (allowed 0; 1/255 = {1 / 255:.4f})")

    check_errors(tool, broken, folder)

    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)
    shutil.rmtree(folder, ignore_errors=True)
    print("image preprocessing matches PIL + the transformers reference exactly")


def llava_next_reference(rgb):
    pixel_values, (height, width) = hf.llava_next_preprocess(rgb)
    return pixel_values, {"image_size": (height, width),
                          "num_image_tokens": (hf.llava_next_num_image_tokens(height, width),)}


def qwen_reference(rgb, **options):
    pixel_values, grid, tokens = hf.qwen2_vl_preprocess(rgb, **options)
    return pixel_values, {"grid_thw": tuple(grid), "num_image_tokens": (tokens,)}


def check_errors(tool, broken, folder):
    expected_words = {
        "truncated.jpg": "truncated JPEG",
        "truncated.png": "truncated PNG",
        "header_only.png": "truncated PNG",
        "corrupt.png": "corrupt PNG",
        "corrupt_header.jpg": "corrupt JPEG",
        "really_a_gif.jpg": "a GIF image",
        "text.png": "not a JPEG or PNG image",
        "empty.jpg": "empty data",
    }
    # All files in one process (each failure lands in OUT.err) ...
    outputs = {name: os.path.join(folder, f"broken_{name}.npy") for name in expected_words}
    run_jobs(tool, [["decode", broken[name], outputs[name]] for name in expected_words], folder)
    for name, words in expected_words.items():
        path = broken[name]
        error_file = outputs[name] + ".err"
        message = open(error_file).read() if os.path.exists(error_file) else "(decoded without error)"
        print(f"  {name}: {message}")
        check(not os.path.exists(outputs[name]), f"{name}: produced an image")
        check(message.startswith(path + ": "), f"{name}: message does not start with the file: {message}")
        check(words in message, f"{name}: message lacks '{words}': {message}")
        # PIL refuses the same files (no silent grey image on either side), except the formats it knows and we
        # do not.
        if name != "really_a_gif.jpg":
            try:
                Image.open(path).convert("RGB")
                check(False, f"{name}: PIL decodes it, so should we")
            except Exception:
                pass
    # ... and once as a user sees it: exit status 1, the message and its hint on stderr, no crash.
    result = subprocess.run([tool, "decode", broken["truncated.jpg"], os.path.join(folder, "unused.npy")],
                            capture_output=True, text=True)
    check(result.returncode == 1, f"truncated.jpg: exit status {result.returncode}, expected 1: {result.stderr}")
    check(result.stderr.startswith("error: " + broken["truncated.jpg"]) and "HINT" in result.stderr,
          f"truncated.jpg: stderr {result.stderr!r}")


if __name__ == "__main__":
    main()
