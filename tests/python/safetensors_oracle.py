"""An independent safetensors reader/writer, written from the format description alone
(https://github.com/huggingface/safetensors, "Format"), for the Python oracle tests. Debian has no
`safetensors` package, so this plays the reference: json + struct, nothing of mha2mla's code.

    8 bytes   N, little-endian u64
    N bytes   JSON object: {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}}
    rest      data buffer; data_offsets [begin, end) relative to it; tensors must cover it exactly
"""
import json
import math
import os
import struct

# dtype name -> bits per element
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "I16": 16, "U16": 16, "I32": 32, "U32": 32, "I64": 64, "U64": 64,
    "F16": 16, "BF16": 16, "F32": 32, "F64": 64, "C64": 64,
    "F8_E4M3": 8, "F8_E5M2": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "F8_E8M0": 8,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}


def nbytes(dtype, shape):
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    assert bits % 8 == 0, f"{dtype} {shape} is not a whole number of bytes"
    return bits // 8


def encode(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, bytes), laid out in the order given."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name, dtype, shape, data in tensors:
        assert len(data) == nbytes(dtype, shape), name
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if pad:
        text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(t[3] for t in tensors)


def write(path, tensors, metadata=None, pad=True):
    with open(path, "wb") as f:
        f.write(encode(tensors, metadata, pad))


def write_sharded(folder, shards, metadata=None):
    """shards: list of tensor lists. Writes model-0000i-of-0000N.safetensors and the index."""
    os.makedirs(folder, exist_ok=True)
    weight_map, total = {}, 0
    for i, tensors in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        write(os.path.join(folder, name), tensors, metadata)
        for tensor in tensors:
            weight_map[tensor[0]] = name
            total += len(tensor[3])
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)


class FormatError(ValueError):
    pass


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise FormatError(f"duplicate key in {keys}")
    return dict(pairs)


def decode(data):
    """Strictly parses a whole file. Returns (metadata, {name: (dtype, shape, bytes)}, layout) where layout
    lists (name, begin, end) in file order and carries the raw header text."""
    if len(data) < 8:
        raise FormatError("shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise FormatError("header length past the end")
    raw = data[8:8 + n]
    header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    if not isinstance(header, dict):
        raise FormatError("header not an object")
    buffer = data[8 + n:]
    metadata = header.pop("__metadata__", None)
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in metadata.items()):
            raise FormatError("metadata is not str -> str")
    tensors, spans = {}, []
    for name, entry in header.items():
        if set(entry) != {"dtype", "shape", "data_offsets"}:
            raise FormatError(f"{name}: keys {sorted(entry)}")
        dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPE_BITS:
            raise FormatError(f"{name}: dtype {dtype}")
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise FormatError(f"{name}: shape {shape}")
        if not (0 <= begin <= end <= len(buffer)) or end - begin != nbytes(dtype, shape):
            raise FormatError(f"{name}: offsets {begin, end}")
        tensors[name] = (dtype, list(shape), bytes(buffer[begin:end]))
        spans.append((begin, end, name))
    covered = 0
    for begin, end, name in sorted(spans):
        if begin != covered:
            raise FormatError(f"{name}: starts at {begin}, previous tensors end at {covered}")
        covered = end
    if covered != len(buffer):
        raise FormatError(f"tensors cover {covered} of {len(buffer)} bytes")
    layout = {"header_length": n, "header_text": raw, "order": [(s[2], s[0], s[1]) for s in sorted(spans)]}
    return metadata, tensors, layout


def read(path):
    with open(path, "rb") as f:
        return decode(f.read())


def fp8_value(dtype, code):
    """The value of an FP8 code from the formats' definitions (OCP FP8 E4M3/E5M2, the FNUZ variants of
    Graphcore/AMD, the MX E8M0 scale). Returns a Python float; NaN as float('nan')."""
    if dtype == "F8_E8M0":
        return math.nan if code == 0xFF else 2.0 ** (code - 127)
    exponent_bits, mantissa_bits, bias = {
        "F8_E4M3": (4, 3, 7), "F8_E5M2": (5, 2, 15), "F8_E4M3FNUZ": (4, 3, 8), "F8_E5M2FNUZ": (5, 2, 16)}[dtype]
    sign = -1.0 if code & 0x80 else 1.0
    exponent = (code >> mantissa_bits) & ((1 << exponent_bits) - 1)
    mantissa = code & ((1 << mantissa_bits) - 1)
    if dtype.endswith("FNUZ") and code == 0x80:
        return math.nan
    if dtype == "F8_E4M3" and exponent == 15 and mantissa == 7:
        return math.nan
    if dtype == "F8_E5M2" and exponent == 31:
        return sign * math.inf if mantissa == 0 else math.nan
    if exponent == 0:
        return sign * (mantissa / 2 ** mantissa_bits) * 2.0 ** (1 - bias)
    return sign * (1 + mantissa / 2 ** mantissa_bits) * 2.0 ** (exponent - bias)
