"""PIL + numpy reference of the Hugging Face (slow, PIL-based) image processors that mha2mla reproduces.

Written from transformers' image_transforms.py, image_processing_utils.py, CLIPImageProcessor,
LlavaImageProcessor (do_pad), LlavaNextImageProcessor / LlavaNextProcessor and Qwen2VLImageProcessor:
the same PIL calls, the same numpy dtypes and the same Python integer / float arithmetic, step by step.
transformers itself is not installed here (no PyPI), so this module stands in for it. Images are passed
channels-last with the channel format known (the processors' input_data_format), never inferred.
"""

import math

import numpy as np
from PIL import Image

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
LLAVA_NEXT_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]


def load_rgb(path):
    """Image.open + transformers' convert_to_rgb (PIL convert("RGB") unless already RGB) + to_numpy_array."""
    image = Image.open(path)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.array(image)


def pil_resize(array, height, width, resample=Image.BICUBIC):
    """image_transforms.resize: uint8 array -> PIL image -> Image.resize((w, h)) -> array."""
    return np.array(Image.fromarray(array).resize((width, height), resample=resample))


def shortest_edge_size(height, width, size):
    """get_resize_output_image_size(size=int, default_to_square=False, max_size=None)."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def center_crop(array, crop_height, crop_width):
    """image_transforms.center_crop on a channels-last array, including its zero-padding branch."""
    height, width = array.shape[:2]
    top = (height - crop_height) // 2
    left = (width - crop_width) // 2
    bottom, right = top + crop_height, left + crop_width
    if top >= 0 and bottom <= height and left >= 0 and right <= width:
        return array[top:bottom, left:right]
    new_height, new_width = max(crop_height, height), max(crop_width, width)
    canvas = np.zeros((new_height, new_width) + array.shape[2:], dtype=array.dtype)
    top_pad = math.ceil((new_height - height) / 2)
    left_pad = math.ceil((new_width - width) / 2)
    canvas[top_pad:top_pad + height, left_pad:left_pad + width] = array
    top, bottom, left, right = top + top_pad, bottom + top_pad, left + left_pad, right + left_pad
    return canvas[max(0, top):min(new_height, bottom), max(0, left):min(new_width, right)]


def rescale(array, scale=1 / 255):
    return (array.astype(np.float64) * scale).astype(np.float32)


def normalize(array, mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD):
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    return (array - np.array(mean, dtype=array.dtype)) / np.array(std, dtype=array.dtype)


def pad_to_square(array, background):
    """LlavaImageProcessor.pad_to_square (channels last): image centred, floor offsets."""
    height, width = array.shape[:2]
    if height == width:
        return array
    side = max(height, width)
    result = np.zeros((side, side, array.shape[2]), dtype=array.dtype)
    result[:, :] = np.array(background, dtype=array.dtype)
    if width > height:
        start = (side - height) // 2
        result[start:start + height] = array
    else:
        start = (side - width) // 2
        result[:, start:start + width] = array
    return result


def clip_steps(array, shortest_edge=336, crop=(336, 336), resample=Image.BICUBIC):
    """CLIPImageProcessor.preprocess per image: resize, center crop, rescale, normalize -> [3, H, W]."""
    height, width = shortest_edge_size(array.shape[0], array.shape[1], shortest_edge)
    if (height, width) != array.shape[:2]:
        array = pil_resize(array, height, width, resample)
    array = center_crop(array, crop[0], crop[1])
    return normalize(rescale(array)).transpose(2, 0, 1)


def clip_preprocess(array, shortest_edge=336, crop=336, pad=False):
    if pad:
        array = pad_to_square(array, tuple(int(x * 255) for x in OPENAI_CLIP_MEAN))
    return clip_steps(array, shortest_edge, (crop, crop))


def select_best_resolution(original_size, possible_resolutions):
    original_height, original_width = original_size
    best_fit, max_effective, min_wasted = None, 0, float("inf")
    for height, width in possible_resolutions:
        scale = min(width / original_width, height / original_height)
        downscaled_width, downscaled_height = int(original_width * scale), int(original_height * scale)
        effective = min(downscaled_width * downscaled_height, original_width * original_height)
        wasted = width * height - effective
        if effective > max_effective or (effective == max_effective and wasted < min_wasted):
            max_effective, min_wasted, best_fit = effective, wasted, (height, width)
    return best_fit


def patch_output_size(original_size, target):
    original_height, original_width = original_size
    target_height, target_width = target
    scale_w, scale_h = target_width / original_width, target_height / original_height
    if scale_w < scale_h:
        return min(math.ceil(original_height * scale_w), target_height), target_width
    return target_height, min(math.ceil(original_width * scale_h), target_width)


def llava_next_preprocess(array, pinpoints=LLAVA_NEXT_PINPOINTS, shortest_edge=336, crop=336):
    """LlavaNextImageProcessor.preprocess for one image -> ([1 + tiles, 3, crop, crop], (h, w))."""
    image_size = array.shape[:2]
    best = select_best_resolution(image_size, pinpoints)
    new_height, new_width = patch_output_size(image_size, best)
    resized = array if (new_height, new_width) == image_size else pil_resize(array, new_height, new_width)
    pad_x, rest_x = divmod(best[1] - new_width, 2)
    pad_y, rest_y = divmod(best[0] - new_height, 2)
    padded = np.pad(resized, ((pad_y, pad_y + rest_y), (pad_x, pad_x + rest_x), (0, 0)), mode="constant")
    tiles = [padded[i:i + crop, j:j + crop] for i in range(0, padded.shape[0], crop)
             for j in range(0, padded.shape[1], crop)]
    base = array if image_size == (shortest_edge, shortest_edge) else pil_resize(array, shortest_edge, shortest_edge)
    processed = [clip_steps(t, shortest_edge, (crop, crop)) for t in [base] + tiles]
    return np.array(processed), image_size


def llava_next_num_image_tokens(orig_height, orig_width, pinpoints=LLAVA_NEXT_PINPOINTS, tile=336, patch_size=14,
                                num_additional_image_tokens=1, strategy="default"):
    """LlavaNextProcessor._get_number_of_features (+ the "default" strategy's CLS removal)."""
    best_height, best_width = select_best_resolution([orig_height, orig_width], pinpoints)
    scale_height, scale_width = best_height // tile, best_width // tile
    patches_height = patches_width = tile // patch_size
    current_height, current_width = patches_height * scale_height, patches_width * scale_width
    if orig_width / orig_height > current_width / current_height:
        new_height = int(round(orig_height * (current_width / orig_width), 7))
        current_height -= (current_height - new_height) // 2 * 2
    else:
        new_width = int(round(orig_width * (current_height / orig_height), 7))
        current_width -= (current_width - new_width) // 2 * 2
    features = current_height * current_width + current_height + patches_height * patches_width
    features += num_additional_image_tokens
    return features - 1 if strategy == "default" else features


def smart_resize(height, width, factor=28, min_pixels=56 * 56, max_pixels=28 * 28 * 1280):
    if max(height, width) / min(height, width) > 200:
        raise ValueError("absolute aspect ratio must be smaller than 200")
    h_bar, w_bar = round(height / factor) * factor, round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def qwen2_vl_preprocess(array, min_pixels=56 * 56, max_pixels=28 * 28 * 1280, patch_size=14, temporal_patch_size=2,
                        merge_size=2):
    """Qwen2VLImageProcessor._preprocess for one image -> (pixel_values, (t, h, w), image pad tokens)."""
    height, width = smart_resize(array.shape[0], array.shape[1], patch_size * merge_size, min_pixels, max_pixels)
    if (height, width) != array.shape[:2]:
        array = pil_resize(array, height, width)
    frames = np.array([normalize(rescale(array)).transpose(2, 0, 1)])
    if frames.shape[0] % temporal_patch_size:
        repeat = np.repeat(frames[-1][np.newaxis], temporal_patch_size - frames.shape[0] % temporal_patch_size, 0)
        frames = np.concatenate([frames, repeat], axis=0)
    channels = frames.shape[1]
    grid_t, grid_h, grid_w = frames.shape[0] // temporal_patch_size, height // patch_size, width // patch_size
    patches = frames.reshape(grid_t, temporal_patch_size, channels, grid_h // merge_size, merge_size, patch_size,
                             grid_w // merge_size, merge_size, patch_size)
    patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    flat = patches.reshape(grid_t * grid_h * grid_w, channels * temporal_patch_size * patch_size * patch_size)
    return flat, (grid_t, grid_h, grid_w), grid_t * grid_h * grid_w // merge_size ** 2
