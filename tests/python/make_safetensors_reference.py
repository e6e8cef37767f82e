"""Writes the committed reference checkpoints in tests/data/safetensors/ with the independent Python writer
(safetensors_oracle.py). Every value is a closed form that tests/unit/safetensors_reference_test.cpp
recomputes on its own; test_safetensors.py checks that the committed files equal what this script writes.

    /usr/bin/python3 tests/python/make_safetensors_reference.py   # rewrites tests/data/safetensors/
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_oracle as oracle  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "safetensors")


def pack(fmt, values):
    return struct.pack("<" + fmt * len(values), *values)


def reference_tensors():
    """(name, dtype, shape, bytes) in the file order of reference.safetensors: not sorted, not aligned."""
    return [
        ("f32.ramp", "F32", [3, 4], pack("f", [i * 0.25 - 1.0 for i in range(12)])),
        ("u8.values", "U8", [3], bytes([0, 255, 7])),  # makes every later tensor start at an odd offset
        ("f64.powers", "F64", [5], pack("d", [(-0.5) ** i for i in range(5)])),
        ("bf16.specials", "BF16", [8], pack("H", [0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x0001, 0x807F, 0x3F80])),
        ("f16.specials", "F16", [9],
         pack("H", [0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x0001, 0x83FF, 0x3C00, 0x7BFF])),
        ("i64.extremes", "I64", [2], pack("q", [-2 ** 63, 2 ** 63 - 1])),
        ("i32.values", "I32", [2, 2], pack("i", [-1, -2, 3, 2 ** 31 - 1])),
        ("i16.extremes", "I16", [2], pack("h", [-2 ** 15, 2 ** 15 - 1])),
        ("i8.values", "I8", [3], pack("b", [-128, 127, 0])),
        ("bool.mask", "BOOL", [3], bytes([1, 0, 1])),
        ("u16.values", "U16", [2], pack("H", [65535, 1])),
        ("u32.values", "U32", [2], pack("I", [2 ** 32 - 1, 0])),
        ("u64.values", "U64", [2], pack("Q", [2 ** 64 - 1, 5])),
        ("c64.values", "C64", [2], pack("f", [1.0, 2.0, -0.5, 0.0])),
        ("f8_e4m3.codes", "F8_E4M3", [16, 16], bytes(range(256))),
        ("f8_e5m2.codes", "F8_E5M2", [16, 16], bytes(range(256))),
        ("f4.packed", "F4", [4], bytes([0x21, 0x43])),
        ("scalar", "F32", [], pack("f", [3.5])),
        ("empty", "F32", [0, 3], b""),
    ]


REFERENCE_METADATA = {"format": "pt", "producer": "tests/python/make_safetensors_reference.py", "note": "café"}


def sharded_tensors():
    """Two shards, HF style: (tensor lists per shard)."""
    return [
        [("model.embed_tokens.weight", "F32", [4, 3], pack("f", [i / 8 for i in range(12)])),
         ("model.layers.0.self_attn.q_proj.weight", "BF16", [3, 3], pack("H", [0x3F80 + i for i in range(9)]))],
        [("model.norm.weight", "F32", [3], pack("f", [1.0, 1.0, 1.0])),
         ("lm_head.weight", "F16", [2, 3], pack("H", [0x3C00 + i for i in range(6)]))],
    ]


def write_all(folder):
    os.makedirs(folder, exist_ok=True)
    oracle.write(os.path.join(folder, "reference.safetensors"), reference_tensors(), REFERENCE_METADATA, pad=False)
    oracle.write_sharded(os.path.join(folder, "sharded"), sharded_tensors(), {"format": "pt"})


if __name__ == "__main__":
    write_all(DATA)
    print(f"wrote {os.path.normpath(DATA)}")
